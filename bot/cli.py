"""The command line: `serve`, `chat` and `check`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bot.app import build_app, make_adapters
from bot.checks import core_checks
from bot.core import close_core, create_core
from bot.errors import BotError, ConfigError, StorageUnavailable
from bot.event_loop import loop_factory, settle_the_heap
from bot.messages import Conversation, Incoming, Reply, Source
from bot.moderation import command as moderation_command
from bot.moderation.command import ACTIONS
from bot.operator_cli import account_checks, audit_export, operator_checks
from bot.platform import AdapterFactory, Check, OperatorCommands
from bot.settings import Settings, load

log = logging.getLogger("bot")


def _parser(platforms: Sequence[OperatorCommands] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="IM chatbot service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    chat = commands.add_parser("chat", help="chat with the pipeline in this terminal")
    chat.add_argument("--user", default="local")
    commands.add_parser("check", help="validate the config and try every dependency")
    kb = commands.add_parser("kb", help="the knowledge base: sync the folder, search it")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    sync = kb_commands.add_parser("sync", help="index new and changed files, drop deleted ones")
    sync.add_argument("--dir", type=Path, help="the folder (default knowledge.dir / KNOWLEDGE_DIR)")
    search = kb_commands.add_parser("search", help="print the passages that best match QUERY")
    search.add_argument("query")
    search.add_argument("--top", type=int, help="how many (default knowledge.top_k)")
    terms = commands.add_parser("moderation", help="change or try the shared term list")
    terms.add_argument("action", choices=ACTIONS)
    terms.add_argument("text", nargs="*", help="terms to add or remove; the text to test")
    audit = commands.add_parser("audit", help="the audit trail")
    export = audit.add_subparsers(dest="action", required=True).add_parser(
        "export", help="print the audit entries since a date as JSONL")
    export.add_argument("--since", required=True, help="2024-05-01, a date-time or Unix seconds")
    export.add_argument("--until", help="the same; default: now")
    for platform in platforms:  # each adapter's own: `wechat menu push --account ID`
        sub = commands.add_parser(platform.platform, help=platform.help)
        sub.add_argument("words", nargs="+", help=platform.words)
        sub.add_argument("--account", default="default", help="the account id (default: default)")
    for sub in (serve, chat, commands.choices["check"], sync, search, terms, export,
                *(commands.choices[p.platform] for p in platforms)):
        sub.add_argument("--config", type=Path, help="config file (default ./config.yaml)")
    return parser


def main(argv: Sequence[str], factories: Sequence[AdapterFactory],
         platforms: Sequence[OperatorCommands] = ()) -> int:
    """Parse arguments, load the config (one clear line on error), run the command; `platforms`
    adds the adapters' operator commands."""
    args = _parser(platforms).parse_args(argv)
    try:
        settings = load(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level != "DEBUG":
        # The HTTP clients log every request at INFO; our per-message line already says enough.
        for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            with asyncio.Runner(loop_factory=loop_factory(settings.server.uvloop)) as runner:
                return runner.run(serve(settings, factories, args.host, args.port))
        if args.command == "chat":
            return asyncio.run(chat(settings, args.user))
        if args.command == "kb":
            from bot.knowledge import cli as kb  # numpy and the converters only when asked for

            if args.kb_command == "sync":
                return asyncio.run(kb.kb_sync(settings, args.dir))
            return asyncio.run(kb.kb_search(settings, args.query, args.top))
        if args.command == "moderation":
            return asyncio.run(moderation(settings, args.action, args.text))
        if args.command == "audit":
            return asyncio.run(audit_export(settings, args.since, args.until))
        if args.command in {p.platform for p in platforms}:
            return _report(asyncio.run(platform_command(settings, factories, args.command,
                                                        args.words, args.account)))
        return asyncio.run(check(settings, factories))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def serve(
    settings: Settings, factories: Sequence[AdapterFactory], host: str | None, port: int | None
) -> int:
    """Run until SIGTERM/SIGINT, then stop accepting and drain in-flight work."""
    core = await create_core(settings)
    try:
        adapters = make_adapters(core.services, factories)
    except BotError:
        await close_core(core, 0)
        raise
    runner = web.AppRunner(build_app(core, adapters), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host or settings.server.host, settings.server.port
                       if port is None else port)
    await site.start()
    settle_the_heap()  # after start-up: what it made stays for the process's life
    addresses = ", ".join(f"{a[0]}:{a[1]}" for a in runner.addresses if isinstance(a, tuple))
    log.info("serving on %s (storage=%s, adapters=%s, loop=%s)", addresses,
             core.services.storage.kind,
             ", ".join(a.name for a in adapters), type(asyncio.get_running_loop()).__module__)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down: finishing in-flight work")
    await runner.cleanup()
    return 0


class TerminalReplier:
    """Prints the answer as it streams."""

    streams = True

    def __init__(self) -> None:
        self._streamed = False

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """Terminals show markdown fine; sources are printed after the answer."""
        return markdown

    async def started(self) -> None:
        """Nothing to show."""

    async def delta(self, text: str) -> None:
        """Print a token."""
        self._streamed = True
        sys.stdout.write(text)
        sys.stdout.flush()

    async def status(self, text: str) -> None:
        """Work in progress goes to stderr, so a piped answer stays clean."""
        sys.stderr.write(f"[{text}]\n")

    async def retract(self) -> None:
        """A terminal cannot take printed text back: end the line and say so."""
        if self._streamed:
            sys.stdout.write("\n[withdrawn]\n")
            sys.stdout.flush()
        self._streamed = False

    async def send(self, reply: Reply) -> None:
        """End the line (or print a whole reply that did not stream), then the sources."""
        if not self._streamed or not reply.ok or reply.kind == "refused":
            sys.stdout.write(("\n" if self._streamed else "") + reply.text)
        sys.stdout.write("\n")
        for source in reply.sources:
            sys.stdout.write(f"[{source.number}] {source.label}{' ' + source.url if source.url else ''}\n")
        sys.stdout.flush()


async def moderation(settings: Settings, action: str, words: Sequence[str]) -> int:
    """`python -m bot moderation ACTION [TEXT...]` on the configured storage."""
    core = await create_core(settings)
    services = core.services
    try:
        return await moderation_command.run(services.moderation, services.storage.kind, action, words)
    except StorageUnavailable as exc:
        print(f"moderation: storage unavailable ({exc}); check REDIS_URL", file=sys.stderr)
        return 1
    finally:
        await close_core(core, 0)


async def chat(settings: Settings, user: str) -> int:
    """Read lines from stdin, answer each through the pipeline until EOF."""
    core = await create_core(settings)
    interactive = sys.stdin.isatty()
    try:
        while True:
            if interactive:
                sys.stdout.write("you> ")
                sys.stdout.flush()
            line = await asyncio.to_thread(sys.stdin.readline)  # stdin has no async reader
            if not line:
                return 0
            if not line.strip():
                continue
            incoming = Incoming(platform="cli", conversation=Conversation("cli", user),
                                user_id=user, text=line, user_name=user)
            await core.services.pipeline.handle(incoming, TerminalReplier())
    finally:
        await close_core(core, 5)


async def platform_command(settings: Settings, factories: Sequence[AdapterFactory], platform: str,
                           words: Sequence[str], account: str) -> list[Check]:
    """Run an adapter's operator command (`python -m bot PLATFORM WORDS...`) for one of its
    accounts."""
    core = await create_core(settings)
    try:
        adapter = next((a for a in make_adapters(core.services, factories) if a.name == platform),
                       None)
        if adapter is None:
            return [Check(platform, False, f"{platform} is not configured")]
        return await adapter.command(words, account)
    finally:
        await close_core(core, 0)


def _report(results: Sequence[Check]) -> int:
    for result in results:
        print(f"{'OK  ' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    return 0 if all(r.ok for r in results) else 1


async def check(settings: Settings, factories: Sequence[AdapterFactory]) -> int:
    """One line per check; exit status 1 when any fails."""
    core = await create_core(settings)
    services = core.services
    try:
        results = [Check("config", True, "loaded"), *await core_checks(core)]
        results.extend(operator_checks(services))
        for adapter in make_adapters(services, factories):
            results.extend(await adapter.check())  # one line per account (app)
        results.append(account_checks(services))
    finally:
        await close_core(core, 0)
    return _report(results)
