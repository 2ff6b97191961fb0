"""`POST /api/chat`: authentication, validation, JSON and NDJSON answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI


async def post(service: RunningService, body: Any, headers: dict[str, str] | None = None,
               raw: bytes | None = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
    async with service.http.post(f"{service.url}/api/chat",
                                 headers=service.auth() if headers is None else headers,
                                 **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def stream_lines(service: RunningService, text: str) -> list[dict[str, Any]]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "u", "text": text, "stream": True}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        return [json.loads(line) async for line in response.content if line.strip()]


async def test_missing_bearer_token_is_401(start_service: StartService) -> None:
    service = await start_service()
    status, body = await post(service, {"user": "u", "text": "hi"}, headers={})
    assert status == 401
    assert "bearer" in body["error"]["message"].lower()


async def test_wrong_key_is_401(start_service: StartService) -> None:
    service = await start_service()
    status, _ = await post(service, {"user": "u", "text": "hi"}, headers=service.auth("nope"))
    assert status == 401


async def test_any_configured_key_is_accepted(start_service: StartService) -> None:
    service = await start_service(env={"BOT_API_KEYS": "first, second"})
    status, _ = await post(service, {"user": "u", "text": "hi"}, headers=service.auth("second"))
    assert status == 200


async def test_no_configured_keys_refuses_everyone(start_service: StartService) -> None:
    service = await start_service(env={"BOT_API_KEYS": ""})
    status, body = await post(service, {"user": "u", "text": "hi"}, headers=service.auth(""))
    assert status == 403
    assert "BOT_API_KEYS" in body["error"]["message"]


async def test_right_key_gets_the_reply(start_service: StartService) -> None:
    service = await start_service()
    assert await post(service, {"user": "u", "text": "hi"}) == (200, {"reply": "You said: hi"})


@pytest.mark.parametrize(("body", "complaint"), [
    ({"text": "hi"}, "'user'"),
    ({"user": "", "text": "hi"}, "'user'"),
    ({"user": 5, "text": "hi"}, "'user'"),
    ({"user": "u" * 129, "text": "hi"}, "'user'"),
    ({"user": "u"}, "'text'"),
    ({"user": "u", "text": ["hi"]}, "'text'"),
    ({"user": "u", "text": "hi", "stream": "yes"}, "'stream'"),
    (["not", "an", "object"], "JSON object"),
])
async def test_malformed_fields_are_400_naming_the_problem(
    start_service: StartService, fake_openai: FakeOpenAI, body: Any, complaint: str
) -> None:
    service = await start_service()
    status, answer = await post(service, body)
    assert status == 400
    assert complaint in answer["error"]["message"]
    assert fake_openai.chat_calls == []


async def test_invalid_json_is_400(start_service: StartService) -> None:
    service = await start_service()
    status, body = await post(service, None, raw=b"{not json")
    assert status == 400
    assert "not valid JSON" in body["error"]["message"]


async def test_oversize_body_is_413_as_json(start_service: StartService) -> None:
    service = await start_service(config=base_config(server={"max_body_bytes": 2048}))
    status, body = await post(service, {"user": "u", "text": "x" * 4096})
    assert status == 413
    assert body["error"]["type"] == "HTTPError"


async def test_stream_sends_deltas_then_the_done_line(start_service: StartService) -> None:
    service = await start_service()
    lines = await stream_lines(service, "streaming")
    assert lines[-1] == {"done": True, "error": False, "content": "[DONE]"}
    assert all(line["done"] is False and line["error"] is False for line in lines[:-1])
    assert "".join(line["content"] for line in lines[:-1]) == "You said: streaming"
    assert len(lines) > 3  # really streamed in pieces


async def test_stream_error_mid_way_is_an_error_line_then_done(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.midstream_error = "boom"
    lines = await stream_lines(service, "streaming")
    assert lines[-2]["error"] is True
    assert lines[-2]["done"] is False
    assert "boom" not in lines[-2]["content"]
    assert lines[-1] == {"done": True, "error": False, "content": "[DONE]"}


async def test_stream_of_a_command_is_one_content_line_then_done(start_service: StartService) -> None:
    service = await start_service()
    lines = await stream_lines(service, "/help")
    assert len(lines) == 2
    assert "/reset" in lines[0]["content"]
    assert lines[1]["done"] is True


async def test_streamed_answer_is_kept_in_history(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await stream_lines(service, "one")
    await stream_lines(service, "two")
    assert {"role": "assistant", "content": "You said: one"} in fake_openai.chat_calls[-1]["messages"]


async def test_health_is_ok_on_memory_storage(start_service: StartService) -> None:
    service = await start_service()
    async with service.http.get(f"{service.url}/healthz") as response:
        body = await response.json()
    assert body["status"] == "ok"
    assert body["storage"]["kind"] == "memory"


async def test_metrics_count_requests_and_llm_tokens(start_service: StartService) -> None:
    service = await start_service()
    await post(service, {"user": "u", "text": "hi"})
    async with service.http.get(f"{service.url}/metrics") as response:
        text = await response.text()
    assert 'bot_http_requests_total{endpoint="/api/chat",status="200"} 1.0' in text
    assert 'bot_llm_tokens_total{kind="completion"} 3.0' in text
    assert 'bot_messages_total{account="default",outcome="answered",platform="webhook"} 1.0' in text


async def test_secrets_never_appear_in_metrics_or_health(start_service: StartService) -> None:
    service = await start_service()
    await post(service, {"user": "u", "text": "hi"})
    for path in ("/metrics", "/healthz"):
        async with service.http.get(f"{service.url}{path}") as response:
            text = await response.text()
        assert "sk-upstream-secret-123" not in text
        assert "bot-test-key-1" not in text
