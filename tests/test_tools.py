"""Function calling: the bounded tool loop (JSON and SSE), built-in tools, MCP servers over stdio
and streamable HTTP, schema checks, timeouts, the step limit, and what reaches history."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from adapters import feishu, webhook
from tests import mcp_server
from tests.cli_run import environment, run
from tests.conftest import ROOT, RunningService, StartService, base_config
from tests.fakes.feishu import FakeFeishu, encrypted_request, feishu_env, message_event, post_event, settle
from tests.fakes.openai import FakeOpenAI, call_once, last_tool_result

SERVER = [sys.executable, str(ROOT / "tests" / "mcp_server.py")]


def tool_messages(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m.get("role") == "tool"]


def offered(body: dict[str, Any]) -> list[str]:
    return sorted(t["function"]["name"] for t in body.get("tools") or [])


async def start(start_service: StartService, tools: dict[str, Any] | None = None,
                **sections: Any) -> RunningService:
    config = base_config(tools={"enabled": True, "timezone": "Asia/Shanghai", **(tools or {})},
                         **sections)
    service = await start_service(config=config, adapters=[webhook.create])
    if service.core.mcp is not None:
        for server in service.core.mcp.servers:
            await server.ready()
    return service


async def ask(service: RunningService, text: str, stream: bool = False, user: str = "u1"
              ) -> dict[str, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text, "stream": stream}) as response:
        assert response.status == 200, await response.text()
        if not stream:
            answer: dict[str, Any] = await response.json()
            return answer
        lines = [json.loads(line) for line in (await response.text()).splitlines()]
        return {"reply": "".join(line["content"] for line in lines if not line["done"]),
                "lines": lines}


def stdio(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"name": "calc", "command": SERVER,
            "env": {"MCP_CALLS_FILE": str(tmp_path / "calls.jsonl")}, **extra}


def calls_made(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_tool_call_in_json_is_run_and_its_result_goes_back_to_the_model(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = last_tool_result
    service = await start(start_service)
    answer = await ask(service, "what time is it?")
    first, second = fake_openai.chat_calls
    assert offered(first) == ["current_time"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "current_time"
    assert second["messages"][-1]["role"] == "tool"
    assert "+08:00" in second["messages"][-1]["content"]  # the configured timezone
    assert answer["reply"].startswith("The tool said: ")


async def test_a_streamed_tool_call_is_joined_from_its_argument_pieces_over_stdio_mcp(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.chunk_size = 3  # the arguments arrive in pieces of three characters
    fake_openai.tools = call_once("calc__add", {"a": 2, "b": 3})
    fake_openai.reply = last_tool_result
    service = await start(start_service, {"mcp_servers": [stdio(tmp_path)]})
    answer = await ask(service, "2 + 3?", stream=True)
    assert calls_made(tmp_path) == [{"tool": "add", "arguments": {"a": 2, "b": 3}}]
    assert answer["reply"] == "The tool said: 2 + 3 = 5"


@pytest.fixture
async def http_mcp() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """The test MCP server over streamable HTTP on a free loopback port; the headers it got."""
    headers: list[dict[str, str]] = []
    app = mcp_server.build("http-tools").streamable_http_app()

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(recording, log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/mcp", headers
    server.should_exit = True
    await task


async def test_a_tool_round_trip_over_streamable_http_sends_the_configured_headers(
    start_service: StartService, fake_openai: FakeOpenAI,
    http_mcp: tuple[str, list[dict[str, str]]],
) -> None:
    url, headers = http_mcp
    mcp_server.CALLS.clear()
    fake_openai.tools = call_once("web__add", {"a": 40, "b": 2})
    fake_openai.reply = last_tool_result
    server = {"name": "web", "url": url, "headers": {"Authorization": "Bearer mcp-secret"}}
    service = await start(start_service, {"mcp_servers": [server]})
    answer = await ask(service, "40 + 2?")
    assert answer["reply"] == "The tool said: 40 + 2 = 42"
    assert mcp_server.CALLS == [{"tool": "add", "arguments": {"a": 40, "b": 2}}]
    assert all(h.get("authorization") == "Bearer mcp-secret" for h in headers)


async def test_a_schema_invalid_argument_is_refused_before_the_server_is_called(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.tools = call_once("calc__add", {"a": "two", "b": 3})
    service = await start(start_service, {"mcp_servers": [stdio(tmp_path)]})
    await ask(service, "two plus three")
    result = tool_messages(fake_openai.chat_calls[-1])[-1]
    assert result.startswith("error: the arguments do not match the tool's schema (a: ")
    assert calls_made(tmp_path) == []


async def test_arguments_that_are_not_json_are_refused(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tools = call_once("current_time", '{"oops"')
    service = await start(start_service)
    await ask(service, "time?")
    assert "not valid JSON" in tool_messages(fake_openai.chat_calls[-1])[-1]


async def test_a_tool_that_takes_too_long_is_cut_at_the_timeout(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.tools = call_once("calc__slow", {"seconds": 30})
    service = await start(start_service, {"timeout": 0.5, "mcp_servers": [stdio(tmp_path)]})
    answer = await asyncio.wait_for(ask(service, "wait for it"), 15)
    assert tool_messages(fake_openai.chat_calls[-1]) == [
        "error: the tool did not answer within 0.5 seconds"]
    assert answer["reply"].startswith("You said: ")


async def test_the_loop_stops_at_max_steps_and_asks_for_an_answer_without_tools(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tools = lambda body: [("current_time", {})]  # a model that never stops asking
    fake_openai.reply = lambda body: "Here is what I found."
    service = await start(start_service, {"max_steps": 2})
    answer = await ask(service, "loop forever")
    assert len(fake_openai.chat_calls) == 3
    assert [c.get("tool_choice") for c in fake_openai.chat_calls] == [None, None, "none"]
    assert len(tool_messages(fake_openai.chat_calls[-1])) == 2
    assert answer["reply"] == "Here is what I found."


async def test_tool_results_stay_out_of_history_by_default(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = lambda body: "It is late."
    service = await start(start_service)
    await ask(service, "time?")
    assert (await service.services.storage.conversation("webhook:u1"))[1] == [
        {"role": "user", "content": "time?"}, {"role": "assistant", "content": "It is late."}]


async def test_keep_results_keeps_tool_results_with_the_answer(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = lambda body: "It is late."
    service = await start(start_service, {"keep_results": True})
    await ask(service, "time?")
    saved = ((await service.services.storage.conversation("webhook:u1"))[1])[1]["content"]
    assert saved.startswith("Tool results:\ncurrent_time: 20")
    assert saved.endswith("\n\nIt is late.")


async def test_reasoning_is_stripped_from_a_streamed_answer_after_a_tool(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = lambda body: "<think>it is late</think>It is evening."
    service = await start(start_service)
    answer = await ask(service, "time?", stream=True)
    assert answer["reply"] == "It is evening."


async def test_only_allowed_tools_of_a_server_are_offered(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start(start_service, {"mcp_servers": [stdio(tmp_path, allow=["add"])]})
    await ask(service, "hi")
    assert offered(fake_openai.chat_calls[0]) == ["calc__add", "current_time"]


async def test_a_servers_new_tools_are_offered_after_it_says_its_list_changed(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.tools = call_once("calc__grow", {})
    service = await start(start_service, {"mcp_servers": [stdio(tmp_path)]})
    await ask(service, "grow")
    fake_openai.tools = None
    hub = service.core.mcp
    assert hub is not None
    for _ in range(100):  # the server's notification is handled in the background
        if "calc__shout" in [t.name for t in hub.servers[0].tools()]:
            break
        await asyncio.sleep(0.05)
    await ask(service, "again")
    assert "calc__shout" in offered(fake_openai.chat_calls[-1])


async def test_a_server_that_fails_is_logged_and_skipped(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "bot.tools.mcp")
    broken = {"name": "gone", "command": [str(tmp_path / "no-such-program")]}
    service = await start(start_service, {"mcp_servers": [broken, stdio(tmp_path)]})
    answer = await ask(service, "hi")
    assert answer["reply"] == "You said: hi"
    assert "gone__add" not in offered(fake_openai.chat_calls[0])
    assert "calc__add" in offered(fake_openai.chat_calls[0])
    assert "mcp gone: unavailable" in caplog.text


async def test_the_feishu_card_shows_a_status_line_while_a_tool_runs(
    start_service: StartService, fake_openai: FakeOpenAI, fake_feishu: FakeFeishu
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = lambda body: "It is late."
    config = base_config(tools={"enabled": True},
                         feishu={"retry_backoff": 0.01, "card_updates_per_second": 5})
    service = await start_service(config=config, env=feishu_env(fake_feishu),
                                  adapters=[feishu.create])
    body, headers = encrypted_request(message_event("what time is it?"))
    assert (await post_event(service.http, service.url, body, headers))[0] == 200
    await settle(service.services.tasks)
    shown = [str(c.body["content"]) for c in fake_feishu.ops("card_content")]
    assert "*🔧 checking the time…*" in shown
    assert shown[-1] == "It is late."


async def test_check_lists_each_mcp_servers_tools(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"tools": {"enabled": True, "mcp_servers": [
        stdio(tmp_path, allow=["add", "slow"]),
        {"name": "gone", "command": [str(tmp_path / "no-such-program")]}]}}), encoding="utf-8")
    code, out, _ = await run("check", "--config", str(config), env=environment(fake_openai))
    assert code == 1  # one server failed
    assert "OK   MCP server calc: 2 tool(s): calc__add, calc__slow" in out
    assert "FAIL MCP server gone: FileNotFoundError" in out


def test_an_mcp_server_needs_exactly_one_of_command_and_url() -> None:
    from bot.config import Section
    from bot.errors import ConfigError
    from bot.feature_settings import tool_settings

    both = {"mcp_servers": [{"name": "x", "command": ["a"], "url": "http://h/mcp"}]}
    with pytest.raises(ConfigError, match=r"tools.mcp_servers\[0\]: give exactly one"):
        tool_settings(Section(both, "tools", {}))


def test_mcp_header_values_are_masked_in_the_settings() -> None:
    from bot.config import Section
    from bot.feature_settings import tool_settings

    settings = tool_settings(Section({"mcp_servers": [
        {"name": "x", "url": "http://h/mcp", "headers": {"Authorization": "Bearer s3cret"}}]},
        "tools", {}))
    assert "s3cret" not in repr(settings)
    assert settings.mcp_servers[0].headers[0][1].reveal() == "Bearer s3cret"
