"""`POST /feishu/events` end to end: challenge, 4xx on bad credentials, ack first, dedup."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from adapters import feishu
from bot.app import ADAPTERS
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import (
    BOT_OPEN_ID,
    TOKEN,
    FakeFeishu,
    encrypted_request,
    feishu_env,
    message_event,
    post_event,
    settle,
)
from tests.fakes.openai import FakeOpenAI

JSON = {"Content-Type": "application/json"}


async def service_for(start_service: StartService, fake: FakeFeishu, encrypt_key: str = "test key",
                      **env: str) -> RunningService:
    config = base_config(feishu={"retry_backoff": 0.01, "card_updates_per_second": 5})
    return await start_service(config=config, env={**feishu_env(fake, encrypt_key), **env},
                               adapters=[feishu.create])


async def test_adapter_is_off_without_app_id(start_service: StartService) -> None:
    service = await start_service(adapters=[feishu.create])
    async with service.http.post(f"{service.url}/feishu/events", json={}) as response:
        assert response.status == 404


async def test_plain_url_verification_answers_the_challenge(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await service_for(start_service, fake_feishu, encrypt_key="")
    body = json.dumps({"challenge": "ajls384kdjx98XX", "type": "url_verification", "token": TOKEN})
    status, answer = await post_event(service.http, service.url, body.encode(), JSON)
    assert (status, answer) == (200, {"challenge": "ajls384kdjx98XX"})


async def test_encrypted_url_verification_without_signature_answers_the_challenge(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await service_for(start_service, fake_feishu)
    body, _ = encrypted_request({"challenge": "c-42", "type": "url_verification", "token": TOKEN})
    status, answer = await post_event(service.http, service.url, body, JSON)
    assert (status, answer) == (200, {"challenge": "c-42"})


@pytest.mark.parametrize(("case", "status"), [
    ("wrong_token", 401), ("wrong_signature", 401), ("missing_signature", 401), ("stale_timestamp", 401),
    ("bad_ciphertext", 400), ("not_json", 400),
])
async def test_bad_callbacks_get_a_json_4xx_and_no_processing(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, case: str, status: int
) -> None:
    service = await service_for(start_service, fake_feishu)
    event = message_event()
    body, headers = encrypted_request(event)
    if case == "wrong_token":
        event["header"]["token"] = "not-the-token"
        body, headers = encrypted_request(event)
    elif case == "wrong_signature":
        body, headers = encrypted_request(event, sign_key="another key")
    elif case == "missing_signature":
        headers = JSON
    elif case == "stale_timestamp":
        body, headers = encrypted_request(event, timestamp=int(time.time()) - 3600)
    elif case == "bad_ciphertext":
        body, headers = encrypted_request(event, key="another key", sign_key="test key")
    else:
        body = b"{not json"
        headers = {**headers, "X-Lark-Signature": "0" * 64}
    answer_status, answer = await post_event(service.http, service.url, body, headers)
    assert answer_status == status
    assert isinstance(answer, dict)
    assert "error" in answer
    assert fake_feishu.ops("reply", "create_card") == []
    assert fake_openai.chat_calls == []


async def test_message_event_is_acked_before_the_answer_is_ready(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.latency = 1.5
    service = await service_for(start_service, fake_feishu)
    body, headers = encrypted_request(message_event("hello"))
    started = time.monotonic()
    status, answer = await post_event(service.http, service.url, body, headers)
    assert (status, answer) == (200, {"msg": "success"})
    assert time.monotonic() - started < 1.0


async def test_redelivered_event_id_gets_one_reply(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await service_for(start_service, fake_feishu)
    event = message_event("hello")
    for _ in range(3):
        body, headers = encrypted_request(event)
        assert (await post_event(service.http, service.url, body, headers))[0] == 200
    await fake_feishu.wait_for(lambda f: bool(f.ops("card_settings")))
    await settle(service.services.tasks)
    assert len(fake_openai.chat_calls) == 1
    assert len(fake_feishu.ops("reply")) == 1


async def test_same_message_id_under_new_event_id_gets_one_reply(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await service_for(start_service, fake_feishu)
    for event_id in ("ev_a", "ev_b"):
        body, headers = encrypted_request(message_event("hi", event_id=event_id, message_id="om_same"))
        await post_event(service.http, service.url, body, headers)
    await settle(service.services.tasks)
    assert len(fake_openai.chat_calls) == 1


async def test_two_instances_on_one_redis_reply_once(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    first = await service_for(start_service, fake_feishu, REDIS_URL=redis_url)
    second = await service_for(start_service, fake_feishu, REDIS_URL=redis_url)
    event = message_event("hello")
    posts: list[Any] = []
    for service in (first, second, first, second):
        body, headers = encrypted_request(event)
        posts.append(post_event(service.http, service.url, body, headers))
    statuses = [status for status, _ in await asyncio.gather(*posts)]
    # 503 for a copy arriving while another instance is still recording the message: Feishu
    # delivers it again later, and by then it is a duplicate (acknowledged, not answered).
    assert 200 in statuses
    assert set(statuses) <= {200, 503}
    await settle(first.services.tasks)
    await settle(second.services.tasks)
    assert len(fake_openai.chat_calls) == 1
    assert len(fake_feishu.ops("reply")) == 1


async def test_self_check_fetches_the_tenant_token_and_bot_identity(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await service_for(start_service, fake_feishu)
    adapter = service.server.app[ADAPTERS][0]
    checks = await adapter.check()
    assert [(c.ok, BOT_OPEN_ID in c.detail) for c in checks] == [(True, True)]


async def test_self_check_fails_with_a_wrong_app_secret(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await service_for(start_service, fake_feishu, FEISHU_APP_SECRET="wrong")
    checks = await service.server.app[ADAPTERS][0].check()
    assert [(c.ok, "10014" in c.detail) for c in checks] == [(False, True)]


async def test_events_during_shutdown_get_503_so_feishu_redelivers(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await service_for(start_service, fake_feishu)
    await service.services.tasks.drain(0.1)
    body, headers = encrypted_request(message_event("hello"))
    status, _ = await post_event(service.http, service.url, body, headers)
    assert (status, fake_openai.chat_calls) == (503, [])
