"""The long connection's honest health: a silent server is noticed and reconnected to with
backoff, /readyz says so with the reason, /healthz and /metrics show the state and event age."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from itertools import repeat
from typing import Any

import pytest

from adapters import feishu
from adapters.feishu.health import Watch, backoff
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import APP_ID, feishu_env, message_event
from tests.fakes.feishu_ws import FakeLongConnection, start_long_connection_fake
from tests.fakes.openai import FakeOpenAI

SALES_APP = "cli_sales000000001"

FAST = {"mode": "websocket", "ping_timeout": 0.6, "reconnect_base": 0.05, "reconnect_max": 0.2,
        "retry_backoff": 0.01}


@pytest.fixture
async def long_fake() -> AsyncIterator[FakeLongConnection]:
    fake = await start_long_connection_fake()
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def start(start_service: StartService, fake: FakeLongConnection) -> RunningService:
    return await start_service(config=base_config(feishu=FAST),
                               env=feishu_env(fake, encrypt_key=""), adapters=[feishu.create])


async def get(service: RunningService, path: str) -> tuple[int, Any]:
    async with service.http.get(f"{service.url}{path}") as response:
        if path == "/metrics":
            return response.status, await response.text()
        return response.status, await response.json()


async def until(service: RunningService, path: str, wanted: Callable[[int, Any], bool],
                within: float = 10.0) -> tuple[int, Any]:
    """Read `path` until `wanted(status, body)` holds (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        status, body = await get(service, path)
        if wanted(status, body) or loop.time() > end:
            return status, body
        await asyncio.sleep(0.05)


def connection(body: Any) -> dict[str, Any]:
    [link] = body["connections"]
    return dict(link)


async def test_a_connected_long_connection_is_ready_and_reported(
    start_service: StartService, long_fake: FakeLongConnection,
) -> None:
    service = await start(start_service, long_fake)
    assert await until(service, "/readyz", lambda s, _: s == 200) == (200, {"ready": True})
    _, health = await get(service, "/healthz")
    assert connection(health) == {"name": "feishu/default", "state": "connected",
                                  "last_event_age": None}
    _, metrics = await get(service, "/metrics")
    assert 'bot_long_connection_up{connection="feishu/default"} 1.0' in metrics


async def test_a_silent_server_makes_readyz_503_then_recovers(
    start_service: StartService, long_fake: FakeLongConnection,
) -> None:
    service = await start(start_service, long_fake)
    await until(service, "/readyz", lambda s, _: s == 200)
    long_fake.silent = True
    status, body = await until(service, "/readyz", lambda s, _: s == 503)
    assert (status, body) == (503, {"ready": False,
                                    "reasons": ["long connection feishu/default reconnecting"]})
    _, health = await get(service, "/healthz")
    assert (health["status"], connection(health)["state"]) == ("degraded", "reconnecting")
    _, metrics = await get(service, "/metrics")
    assert 'bot_long_connection_up{connection="feishu/default"} 0.0' in metrics
    opened = long_fake.connections
    long_fake.silent = False
    assert (await until(service, "/readyz", lambda s, _: s == 200))[0] == 200
    assert long_fake.connections > opened  # a new socket, not the dead one revived


async def test_an_event_over_the_connection_is_acknowledged_and_its_age_reported(
    start_service: StartService, long_fake: FakeLongConnection,
) -> None:
    service = await start(start_service, long_fake)
    await until(service, "/readyz", lambda s, _: s == 200)
    await long_fake.push_event(message_event("over the socket"))
    await long_fake.wait_for(lambda f: bool(f.ops("card_settings")))
    _, health = await until(service, "/healthz",
                            lambda _, b: connection(b)["last_event_age"] is not None)
    assert 0 <= connection(health)["last_event_age"] < 10
    assert long_fake.acks
    assert long_fake.acks[-1]["code"] == 200
    _, metrics = await get(service, "/metrics")
    assert 'bot_long_connection_last_event_age_seconds{connection="feishu/default"}' in metrics


async def test_each_websocket_app_keeps_its_own_connection(
    start_service: StartService, long_fake: FakeLongConnection, fake_openai: FakeOpenAI,
) -> None:
    long_fake.apps[SALES_APP] = "sales-secret"
    sales = {"id": "sales", "app_id": SALES_APP, "app_secret": "sales-secret",
             "base_url": long_fake.url}
    service = await start_service(config=base_config(feishu={**FAST, "apps": [sales]}),
                                  env=feishu_env(long_fake, encrypt_key=""),
                                  adapters=[feishu.create])
    _, health = await until(service, "/readyz", lambda s, _: s == 200)
    assert health == {"ready": True}
    _, body = await get(service, "/healthz")
    assert sorted((c["name"], c["state"]) for c in body["connections"]) == [
        ("feishu/default", "connected"), ("feishu/sales", "connected")]
    assert long_fake.connections == 2
    for socket in (0, 1):  # whichever app owns the socket answers with its own token
        await long_fake.push_event(message_event(f"over socket {socket}"), socket=socket)
    await long_fake.wait_for(lambda f: len(f.ops("card_settings")) == 2)
    assert sorted(c.app for c in long_fake.ops("reply")) == sorted([APP_ID, SALES_APP])


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff(n, base=1.0, cap=60.0, rand=lambda: 0.999999) for n in range(8)]
    assert [round(d) for d in delays] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_jitters_the_second_half_of_each_delay() -> None:
    low, high = (backoff(3, base=1.0, cap=60.0, rand=repeat(r).__next__) for r in (0.0, 0.999999))
    assert low == 4.0
    assert 7.99 < high < 8.0
    assert backoff(3, base=1.0, cap=60.0, rand=lambda: 0.5) == 6.0


def test_a_new_socket_counts_as_connected_only_once_the_server_answers() -> None:
    now = [0.0]
    watch = Watch("feishu/x", clock=lambda: now[0])
    watch.set("reconnecting")
    watch.opened()
    assert watch.health().state == "reconnecting"
    now[0] = 1.5
    assert watch.silent_for() == 1.5
    watch.frame()
    assert (watch.health().state, watch.silent_for()) == ("connected", 0.0)


def test_the_last_event_age_follows_the_clock() -> None:
    now = [10.0]
    watch = Watch("feishu/x", clock=lambda: now[0])
    assert watch.health().last_event_age is None
    watch.event()
    now[0] = 12.5
    assert watch.health().last_event_age == 2.5
