"""Long-connection mode.

A real Feishu WebSocket server is impractical to fake (protobuf frames behind an endpoint
discovery call), so these tests let lark-oapi's client start in its thread against the fake
(which refuses the discovery, so it stops) and drive its event handler directly from another
thread, as the client's receive loop would.
"""

from __future__ import annotations

import asyncio
import json

from adapters import feishu
from adapters.feishu.adapter import FeishuAdapter
from bot.app import ADAPTERS
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import FakeFeishu, feishu_env, message_event, settle
from tests.fakes.openai import FakeOpenAI


async def start_ws(start_service: StartService, fake: FakeFeishu) -> tuple[RunningService, FeishuAdapter]:
    config = base_config(feishu={"mode": "websocket", "retry_backoff": 0.01, "card_updates_per_second": 5})
    service = await start_service(config=config, env=feishu_env(fake, encrypt_key=""),
                                  adapters=[feishu.create])
    adapter = service.server.app[ADAPTERS][0]
    assert isinstance(adapter, FeishuAdapter)
    return service, adapter


async def deliver_over_ws(adapter: FeishuAdapter, payload: dict[str, object]) -> None:
    """What lark-oapi's receive loop does with an event frame, on a thread that is not ours."""
    connection = adapter.apps["default"].connection
    assert connection is not None
    handler = connection.event_handler()
    await asyncio.to_thread(handler._do_without_validation, json.dumps(payload).encode())


async def test_websocket_mode_starts_the_client_without_blocking_the_app(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service, _ = await start_ws(start_service, fake_feishu)
    await fake_feishu.wait_for(lambda f: bool(f.ops("ws_endpoint")))
    async with service.http.get(f"{service.url}/healthz") as response:
        assert response.status == 200


async def test_websocket_mode_serves_no_callback_route(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service, _ = await start_ws(start_service, fake_feishu)
    async with service.http.post(f"{service.url}/feishu/events", json={}) as response:
        assert response.status == 404


async def test_websocket_event_is_answered_through_the_same_path(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service, adapter = await start_ws(start_service, fake_feishu)
    await deliver_over_ws(adapter, message_event("over the socket"))
    await fake_feishu.wait_for(lambda f: bool(f.ops("card_settings")))
    await settle(service.services.tasks)
    assert fake_feishu.ops("card_content")[-1].body["content"] == "You said: over the socket"


async def test_websocket_redelivery_gets_one_reply(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service, adapter = await start_ws(start_service, fake_feishu)
    event = message_event("hello")
    await deliver_over_ws(adapter, event)
    await deliver_over_ws(adapter, event)
    await fake_feishu.wait_for(lambda f: bool(f.ops("card_settings")))
    await settle(service.services.tasks)
    assert len(fake_openai.chat_calls) == 1
