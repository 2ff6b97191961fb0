"""What an adapter provides to the core, and what the core hands to adapters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiohttp import ClientSession, web

from bot.accounts import Accounts
from bot.config import Section
from bot.jobs import JobQueue
from bot.messages import Image, Reply, Source
from bot.settings import Settings
from bot.storage import Storage
from bot.tasks import TaskOwner
from bot.texts import Texts

if TYPE_CHECKING:
    from bot.audit import Auditor
    from bot.moderation import Moderation
    from bot.pipeline import Pipeline
    from bot.prompts import Presets


class Replier(Protocol):
    """Where the pipeline's answer goes; each adapter supplies one bound to the conversation."""

    streams: bool
    """True when the platform shows the answer growing (deltas are worth sending)."""

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """Turn the model's markdown into what this platform shows; platforms that cite inside the
        text (footnotes) add `sources` here, the others show `Reply.sources` when sending."""
        ...

    async def started(self) -> None:
        """The LLM call is about to begin: show a typing sign or a thinking card."""
        ...

    async def delta(self, text: str) -> None:
        """More answer text (only called when `streams` is True)."""
        ...

    async def status(self, text: str) -> None:
        """A short line about work in progress ("🔧 searching…"), replaced by the next delta or
        status; platforms that cannot show one ignore it."""
        ...

    async def retract(self) -> None:
        """Withdraw every delta shown so far: moderation flagged the answer after part of it
        streamed. `send` follows with what to show instead (the whole of it, not a delta)."""
        ...

    async def send(self, reply: Reply) -> None:
        """The final reply, called exactly once per message the pipeline answers."""
        ...


@dataclass(frozen=True, slots=True)
class Check:
    """One line of `python -m bot check`."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Services:
    """What an adapter is handed: the core's shared parts it uses, created once per process
    (the parts only the core uses live in `bot.core.Core`)."""

    settings: Settings  # the core's settings (LLM timeouts, storage, moderation.relay...)
    storage: Storage
    pipeline: Pipeline
    presets: Presets
    tasks: TaskOwner
    jobs: JobQueue
    texts: Texts
    http: ClientSession
    moderation: Moderation  # the relay applies the chat's policy
    auditor: Auditor  # pushes are audited
    accounts: Accounts = field(default_factory=Accounts)  # per-account defaults and keywords
    pushers: dict[str, Pusher] = field(default_factory=dict)  # platform -> its push (/api/send)

    @property
    def config(self) -> Section:
        """The whole configuration: each adapter's `create` reads its own section from it."""
        return self.settings.section


@dataclass(frozen=True, slots=True)
class Push:
    """A message the service starts (`POST /api/send`): to whom on which account, and what."""

    account: str
    to: Mapping[str, str]  # one platform address, e.g. {"openid": ...} or {"chat_id": ...}
    text: str = ""
    image: Image | None = None
    card: bool = False  # show the text as a markdown card where the platform has cards


class PushRefused(Exception):
    """The platform refused a push: its error code and what it means for the caller."""

    def __init__(self, code: int, meaning: str) -> None:
        super().__init__(f"errcode {code}: {meaning}")
        self.code = code
        self.meaning = meaning


class Pusher(Protocol):
    """A platform that can send a message nobody asked for (registered in `Services.pushers`)."""

    async def push(self, push: Push) -> str:
        """Send it; the platform's message id (or ours). BadRequest for an unknown account or
        address, PushRefused when the platform says no."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """One long connection an adapter keeps, for /healthz, /readyz and /metrics."""

    name: str  # e.g. "feishu/default"
    state: str  # connecting | connected | reconnecting | stopped
    last_event_age: float | None = None  # seconds since its last event; None before the first

    @property
    def up(self) -> bool:
        """Whether messages can arrive over it now."""
        return self.state == "connected"


class Adapter(Protocol):
    """A platform: its HTTP routes, its background parts and its self-check."""

    name: str

    def routes(self) -> Sequence[web.RouteDef]:
        """aiohttp routes this platform serves."""
        ...

    async def start(self) -> None:
        """Start background parts (long connections, workers)."""
        ...

    async def close(self) -> None:
        """Stop them and release resources."""
        ...

    async def check(self) -> list[Check]:
        """Try the platform's dependencies (tokens, APIs) for `python -m bot check`."""
        ...

    def health(self) -> list[ConnectionHealth]:
        """The long connections this adapter keeps (none for webhook-only platforms)."""
        ...

    async def command(self, words: Sequence[str], account: str) -> list[Check]:
        """An operator command for one account: `python -m bot PLATFORM WORDS... [--account ID]`
        when the platform declares `OperatorCommands`."""
        ...


AdapterFactory = Callable[[Services], Adapter | None]
"""Builds an adapter from the services, or None when its platform is not configured."""


@dataclass(frozen=True, slots=True)
class OperatorCommands:
    """A platform's `python -m bot PLATFORM WORDS...` subcommand, run by its adapter's `command`;
    declared beside the factory, so the CLI offers it without building the adapter."""

    platform: str  # the subcommand: the adapter's `name`
    help: str  # its line in `python -m bot --help`
    words: str  # which words it takes, for `python -m bot PLATFORM --help`
