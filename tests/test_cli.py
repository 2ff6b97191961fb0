"""`python -m bot chat | check | serve` as real subprocesses against the fake LLM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from adapters import COMMANDS
from bot.cli import _parser
from tests.cli_run import environment, run, spawn
from tests.conftest import ROOT
from tests.fakes.openai import FakeOpenAI
from tests.redis_proc import free_port


async def test_chat_streams_answers_for_each_line_of_stdin(fake_openai: FakeOpenAI) -> None:
    code, out, _ = await spawn("chat", "--user", "tester", env=environment(fake_openai),
                               stdin=b"hello\nsecond line\n")
    assert code == 0
    assert out.splitlines() == ["You said: hello", "You said: second line"]


async def test_chat_keeps_history_between_lines(fake_openai: FakeOpenAI) -> None:
    await run("chat", env=environment(fake_openai), stdin=b"first\nsecond\n")
    assert {"role": "user", "content": "first"} in fake_openai.chat_calls[1]["messages"]


async def test_chat_answers_commands(fake_openai: FakeOpenAI) -> None:
    _, out, _ = await run("chat", env=environment(fake_openai), stdin=b"/help\n")
    assert "/reset" in out
    assert fake_openai.chat_calls == []


async def test_check_passes_against_a_working_llm(fake_openai: FakeOpenAI) -> None:
    code, out, _ = await spawn("check", env=environment(fake_openai))
    assert code == 0
    assert "OK   LLM gpt-4o-mini" in out
    assert "OK   storage: in-process memory" in out


async def test_check_fails_naming_the_llm_problem(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("llm:\n  max_retries: 0\n  timeout: 5\nprompts:\n  dir: prompts\n")
    env = environment(OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    code, out, _ = await run("check", "--config", str(config), env=env)
    assert code == 1
    assert "FAIL LLM" in out
    assert "llm_unreachable" in out


async def test_check_fails_when_redis_is_unreachable(fake_openai: FakeOpenAI) -> None:
    env = environment(fake_openai, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    code, out, _ = await run("check", env=env)
    assert code == 1
    assert "FAIL storage: Redis unreachable" in out


async def test_bad_config_is_one_line_without_a_traceback(fake_openai: FakeOpenAI) -> None:
    code, _, err = await spawn("check", env=environment(fake_openai, BOT_PORT="abc"))
    assert code == 2
    assert err.strip() == "config error: BOT_PORT (server.port): expected an integer, got 'abc'"


async def test_check_names_an_unknown_text_as_a_config_error(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    config = tmp_path / "texts.yaml"
    config.write_text("texts:\n  reset_dnoe: Forgotten.\n")
    code, _, err = await run("check", "--config", str(config), env=environment(fake_openai))
    # checked once the adapters registered their texts: after the start-up log lines
    assert (code, err.strip().splitlines()[-1]) == (2, "config error: texts.reset_dnoe: unknown text")


def test_wechat_menu_push_is_parsed_from_the_adapters_declared_commands() -> None:
    args = _parser(COMMANDS).parse_args(["wechat", "menu", "push", "--account", "shop"])
    assert (args.command, args.words, args.account) == ("wechat", ["menu", "push"], "shop")


async def test_wechat_menu_push_without_an_account_configured_says_so(
    fake_openai: FakeOpenAI,
) -> None:
    code, out, _ = await run("wechat", "menu", "push", env=environment(fake_openai))
    assert code == 1
    assert out.strip() == "FAIL wechat: wechat is not configured"


async def wait_until_serving(http: aiohttp.ClientSession, port: int) -> None:
    for _ in range(600):  # bounded: up to ~60 s for start-up on a loaded machine
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError("the service did not start")


async def serve(fake_openai: FakeOpenAI, **env: str) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
        cwd=ROOT, env=environment(fake_openai, BOT_API_KEYS="k", **env),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    return proc, port


async def chat_once(http: aiohttp.ClientSession, port: int, text: str) -> object:
    async with http.post(f"http://127.0.0.1:{port}/api/chat", json={"user": "u", "text": text},
                         headers={"Authorization": "Bearer k"}) as response:
        return await response.json()


async def answer_once_then_stop(fake_openai: FakeOpenAI, **env: str) -> tuple[int | None, bytes]:
    """`serve` answers one chat, then SIGTERM: its exit status and stderr."""
    proc, port = await serve(fake_openai, **env)
    try:
        async with aiohttp.ClientSession() as http:
            await wait_until_serving(http, port)
            assert await chat_once(http, port, "up?") == {"reply": "You said: up?"}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, err


async def test_serve_answers_and_stops_cleanly_on_sigterm(fake_openai: FakeOpenAI) -> None:
    code, err = await answer_once_then_stop(fake_openai)
    assert code == 0
    assert b"shutting down" in err


@pytest.mark.parametrize(("setting", "loop"), [("true", b"loop=uvloop"), ("false", b"loop=asyncio")])
async def test_serve_runs_on_uvloop_unless_the_setting_turns_it_off(
    fake_openai: FakeOpenAI, setting: str, loop: bytes
) -> None:
    code, err = await answer_once_then_stop(fake_openai, BOT_UVLOOP=setting)
    assert loop in err
    assert code == 0


async def test_sigterm_lets_an_in_flight_answer_finish(fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 1.0
    proc, port = await serve(fake_openai)
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, port)
        in_flight = asyncio.ensure_future(chat_once(http, port, "slow one"))
        await asyncio.wait_for(fake_openai.request_seen.wait(), 10)
        proc.send_signal(signal.SIGTERM)
        answer = await asyncio.wait_for(in_flight, 30)
    await asyncio.wait_for(proc.communicate(), 30)
    assert answer == {"reply": "You said: slow one"}
    assert proc.returncode == 0


async def test_check_names_a_route_whose_preset_does_not_exist(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text("routes:\n  - match: {platform: feishu, chat: oc_1}\n    preset: translator\n"
                      "  - match: {platform: feishu, chat: oc_2}\n    preset: nosuch\n")
    code, out, _ = await run("check", "--config", str(config), env=environment(fake_openai))
    assert code == 1
    assert "FAIL routes: routes[1]: preset 'nosuch' does not exist" in out


async def test_check_passes_valid_routes_and_names_unpriced_models(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    config = tmp_path / "routes.yaml"
    config.write_text("routes:\n  - match: {platform: feishu}\n    model: gpt-4o\n"
                      "pricing:\n  gpt-4o-mini: {input_per_1m: 0.15, output_per_1m: 0.6}\n")
    code, out, _ = await run("check", "--config", str(config), env=environment(fake_openai))
    assert code == 0, out
    assert "OK   routes: 1 route(s) valid" in out
    assert "OK   pricing: no price for gpt-4o (cost counted as 0)" in out


async def test_check_checks_every_wechat_account_and_feishu_app(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    from tests.fakes.feishu import APP_ID, APP_SECRET, start_fake
    from tests.fakes.wechat import wechat_api

    feishu = await start_fake()
    feishu.apps["cli_sales"] = "sales-secret"
    try:
        async with wechat_api() as wechat:
            wechat.apps["wxshop"] = "shop-secret"
            config = tmp_path / "accounts.yaml"
            config.write_text(
                f"wechat:\n  token: t\n  app_id: wx1234567890abcdef\n  app_secret: test-secret\n"
                f"  api_base: {wechat.url}\n  accounts:\n"
                f"    - {{id: shop, token: s, app_id: wxshop, app_secret: '${{SHOP}}'}}\n"
                f"    - {{id: broken, token: b, app_id: wxnope, app_secret: x}}\n"
                f"feishu:\n  app_id: {APP_ID}\n  app_secret: {APP_SECRET}\n"
                f"  base_url: {feishu.url}\n  apps:\n"
                f"    - {{id: sales, app_id: cli_sales, app_secret: sales-secret}}\n")
            code, out, _ = await run("check", "--config", str(config),
                                     env=environment(fake_openai, SHOP="shop-secret"))
    finally:
        assert feishu.server is not None
        await feishu.server.close()
    assert code == 1, out
    assert "OK   wechat access token (default)" in out
    assert "OK   wechat access token (shop)" in out
    assert "FAIL wechat access token (broken): errcode 40013" in out
    assert "OK   feishu tenant token (default)" in out
    assert "OK   feishu tenant token (sales)" in out
    assert ("OK   accounts: wechat/default, wechat/shop, wechat/broken, feishu/default, "
            "feishu/sales") in out
