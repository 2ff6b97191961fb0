"""`/api/chat` for other systems: HMAC-signed requests, idempotency keys, asynchronous callbacks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from adapters.webhook.signing import sign, verify
from bot.errors import ConfigError, Unauthorized
from tests.conftest import API_KEY, RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LoopbackServer

SECRET = "hmac-shared-secret"


@dataclass
class CallbackReceiver:
    """Records signed callbacks; fails the first `fail_first` deliveries with 503."""

    fail_first: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        async with self.changed:
            self.changed.notify_all()
        if len(self.received) <= self.fail_first:
            return web.Response(status=503)
        self.arrived.set()
        return web.Response(status=204)

    async def wait_received(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.received) >= count)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[CallbackReceiver, str]]:
    fake = CallbackReceiver()
    app = web.Application()
    app.router.add_post("/hook", fake.handle)
    server = await LoopbackServer(app).start()
    yield fake, f"{server.url}/hook"
    await server.close()


async def signed_post(service: RunningService, body: dict[str, Any], secret: str = SECRET,
                      timestamp: int | None = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"X-Bot-Timestamp": stamp, "X-Bot-Signature": sign(secret, stamp, raw),
               "Content-Type": "application/json"}
    async with service.http.post(f"{service.url}/api/chat", data=raw, headers=headers) as response:
        return response.status, await response.json()


async def keyed_post(service: RunningService, body: dict[str, Any], key: str,
                     api_key: str = API_KEY) -> tuple[int, Any]:
    headers = {**service.auth(api_key), "Idempotency-Key": key}
    async with service.http.post(f"{service.url}/api/chat", json=body, headers=headers) as response:
        return response.status, await response.json()


def test_signature_matches_a_plain_hmac_sha256_over_timestamp_dot_body() -> None:
    # Computed independently: hmac.new(b"secret", b'1700000000.{"user":"u","text":"hi"}', sha256)
    expected = "sha256=0975fc0f715f562e524c1e93e30e8a0e93ca878a895a17670bd65bc2e61621e4"
    assert sign("secret", "1700000000", b'{"user":"u","text":"hi"}') == expected


def test_verify_refuses_a_stale_timestamp() -> None:
    with pytest.raises(Unauthorized, match="window"):
        verify("s", "1000", sign("s", "1000", b"b"), b"b", now=1000 + 301)


def test_verify_refuses_a_tampered_body() -> None:
    with pytest.raises(Unauthorized, match="does not match"):
        verify("s", "1000", sign("s", "1000", b"body"), b"b0dy", now=1000)


async def test_a_signed_request_is_answered_without_a_bearer_key(start_service: StartService) -> None:
    service = await start_service(env={"BOT_API_HMAC_SECRET": SECRET})
    assert await signed_post(service, {"user": "u", "text": "hi"}) == (200, {"reply": "You said: hi"})


async def test_a_wrong_signature_is_401(start_service: StartService) -> None:
    service = await start_service(env={"BOT_API_HMAC_SECRET": SECRET})
    status, body = await signed_post(service, {"user": "u", "text": "hi"}, secret="guess")
    assert status == 401
    assert "does not match" in body["error"]["message"]


async def test_an_old_signed_request_is_401(start_service: StartService) -> None:
    service = await start_service(env={"BOT_API_HMAC_SECRET": SECRET})
    status, _ = await signed_post(service, {"user": "u", "text": "hi"}, timestamp=int(time.time()) - 400)
    assert status == 401


async def test_a_repeated_idempotency_key_returns_the_first_answer_without_a_second_call(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    first = await keyed_post(service, {"user": "u", "text": "once"}, "key-1")
    second = await keyed_post(service, {"user": "u", "text": "once"}, "key-1")
    assert first == second == (200, {"reply": "You said: once"})
    assert len(fake_openai.chat_calls) == 1


async def test_concurrent_requests_with_one_key_make_one_llm_call(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.latency = 0.3
    results = await asyncio.gather(*(keyed_post(service, {"user": "u", "text": "x"}, "same")
                                     for _ in range(3)))
    assert {status for status, _ in results} == {200}
    assert len(fake_openai.chat_calls) == 1


async def test_idempotency_keys_are_shared_by_instances_on_one_redis(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    first = await start_service(env={"REDIS_URL": redis_url})
    second = await start_service(env={"REDIS_URL": redis_url})
    await keyed_post(first, {"user": "u", "text": "x"}, "k")
    assert (await keyed_post(second, {"user": "u", "text": "x"}, "k"))[0] == 200
    assert len(fake_openai.chat_calls) == 1


async def test_an_invalid_idempotency_key_is_400(start_service: StartService) -> None:
    service = await start_service()
    status, _ = await keyed_post(service, {"user": "u", "text": "x"}, "k" * 129)
    assert status == 400


async def test_async_mode_acknowledges_then_posts_a_signed_callback(
    start_service: StartService, receiver: tuple[CallbackReceiver, str]
) -> None:
    fake, url = receiver
    service = await start_service(env={"BOT_CALLBACK_URL": url, "BOT_CALLBACK_SECRET": SECRET})
    status, body = await keyed_post(service, {"user": "u", "text": "later", "async": True}, "job-7")
    assert (status, body["accepted"]) == (202, True)
    assert body["id"].endswith(".job-7")  # scoped by the caller's credential
    await asyncio.wait_for(fake.arrived.wait(), 10)
    headers, raw = fake.received[-1]
    verify(SECRET, headers["X-Bot-Timestamp"], headers["X-Bot-Signature"], raw, time.time())
    assert headers["Idempotency-Key"] == body["id"]
    assert json.loads(raw) == {"id": body["id"], "key": "job-7", "user": "u", "status": 200,
                               "reply": "You said: later"}


async def test_async_callbacks_are_retried_until_accepted(
    start_service: StartService, receiver: tuple[CallbackReceiver, str]
) -> None:
    fake, url = receiver
    fake.fail_first = 2
    service = await start_service(config=base_config(api={"callback_url": url,
                                                          "callback_retry_seconds": 0.05}),
                                  env={"BOT_CALLBACK_SECRET": SECRET})
    _, body = await keyed_post(service, {"user": "u", "text": "later", "async": True}, "job-8")
    await asyncio.wait_for(fake.arrived.wait(), 20)
    assert len(fake.received) == 3
    assert {h["Idempotency-Key"] for h, _ in fake.received} == {body["id"]}


async def test_async_mode_without_a_configured_callback_url_is_400(start_service: StartService) -> None:
    service = await start_service()
    status, body = await keyed_post(service, {"user": "u", "text": "x", "async": True}, "j")
    assert status == 400
    assert "callback_url" in body["error"]["message"]


async def test_the_request_cannot_choose_the_callback_url(
    start_service: StartService, receiver: tuple[CallbackReceiver, str]
) -> None:
    fake, url = receiver
    service = await start_service(env={"BOT_CALLBACK_URL": url, "BOT_CALLBACK_SECRET": SECRET})
    body = {"user": "u", "text": "x", "async": True, "callback_url": "http://127.0.0.1:1/steal"}
    await keyed_post(service, body, "j2")
    await asyncio.wait_for(fake.arrived.wait(), 10)
    assert len(fake.received) == 1


async def test_two_credentials_using_the_same_key_get_a_callback_each(
    start_service: StartService, receiver: tuple[CallbackReceiver, str], fake_openai: FakeOpenAI
) -> None:
    fake, url = receiver
    service = await start_service(env={"BOT_CALLBACK_URL": url, "BOT_CALLBACK_SECRET": SECRET,
                                       "BOT_API_KEYS": f"{API_KEY},second-key"})
    bodies = [(await keyed_post(service, {"user": "u", "text": f"order from {k}", "async": True},
                                "order-1001", api_key=k))[1] for k in (API_KEY, "second-key")]
    await asyncio.wait_for(fake.wait_received(2), 10)
    assert bodies[0]["id"] != bodies[1]["id"]
    assert sorted(json.loads(raw)["reply"] for _, raw in fake.received) == [
        "You said: order from bot-test-key-1", "You said: order from second-key"]


async def test_the_same_key_from_two_credentials_is_two_requests(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(env={"BOT_API_KEYS": f"{API_KEY},second-key"})
    for api_key in (API_KEY, "second-key"):
        await keyed_post(service, {"user": "u", "text": api_key}, "shared", api_key=api_key)
    assert len(fake_openai.chat_calls) == 2


async def test_async_mode_without_a_callback_secret_is_a_config_error(
    start_service: StartService, receiver: tuple[CallbackReceiver, str]
) -> None:
    _, url = receiver
    with pytest.raises(ConfigError, match="callback_secret"):
        await start_service(env={"BOT_CALLBACK_URL": url})


async def test_an_upstream_failure_is_not_replayed_to_a_retry(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.fail_next = [500]
    first = await keyed_post(service, {"user": "u", "text": "x"}, "k-502")
    second = await keyed_post(service, {"user": "u", "text": "x"}, "k-502")
    assert (first[0], second) == (502, (200, {"reply": "You said: x"}))
