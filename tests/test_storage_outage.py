"""Redis going away at run time: replies keep coming without history, health says so, and recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningService, StartService
from tests.fakes.openai import FakeOpenAI
from tests.redis_proc import RedisProcess


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server this test may stop and restart."""
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.stop()


async def ask(service: RunningService, text: str) -> dict[str, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "u", "text": text}) as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def health(service: RunningService) -> dict[str, Any]:
    async with service.http.get(f"{service.url}/healthz") as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def test_health_reports_ok_with_redis_up(
    start_service: StartService, own_redis: RedisProcess
) -> None:
    service = await start_service(env={"REDIS_URL": own_redis.url})
    storage = (await health(service))["storage"]
    assert (storage["kind"], storage["ok"]) == ("redis", True)


async def test_replies_continue_while_redis_is_down(
    start_service: StartService, own_redis: RedisProcess
) -> None:
    service = await start_service(env={"REDIS_URL": own_redis.url})
    own_redis.stop()
    assert await ask(service, "still there?") == {"reply": "You said: still there?"}


async def test_health_says_degraded_while_redis_is_down(
    start_service: StartService, own_redis: RedisProcess
) -> None:
    service = await start_service(env={"REDIS_URL": own_redis.url})
    own_redis.stop()
    body = await health(service)
    assert body["status"] == "degraded"
    assert body["storage"]["ok"] is False
    assert "unreachable" in body["storage"]["error"]


async def test_service_recovers_by_itself_when_redis_returns(
    start_service: StartService, fake_openai: FakeOpenAI, own_redis: RedisProcess
) -> None:
    service = await start_service(env={"REDIS_URL": own_redis.url})
    own_redis.stop()
    await ask(service, "during outage")
    own_redis.start()
    await ask(service, "first after")
    await ask(service, "second after")
    assert (await health(service))["status"] == "ok"
    roles_and_text = [(m["role"], m["content"]) for m in fake_openai.chat_calls[-1]["messages"][1:]]
    assert roles_and_text == [
        ("user", "first after"), ("assistant", "You said: first after"), ("user", "second after"),
    ]


async def test_a_request_with_an_idempotency_key_waits_for_storage_instead_of_running_unclaimed(
    start_service: StartService, own_redis: RedisProcess, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(env={"REDIS_URL": own_redis.url})
    own_redis.stop()
    headers = {**service.auth(), "Idempotency-Key": "order-7"}
    async with service.http.post(f"{service.url}/api/chat", headers=headers,
                                 json={"user": "u", "text": "once only"}) as response:
        assert response.status == 503  # the key cannot be honoured now: the client retries it
    assert fake_openai.chat_calls == []
