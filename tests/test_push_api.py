"""`POST /api/send`: to a WeChat subscriber and to a Feishu user or chat, through the fakes."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters import feishu, webhook, wechat
from adapters.webhook.signing import signed_headers
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import FakeFeishu, feishu_env
from tests.fakes.wechat import APP_ID, APP_SECRET, TOKEN, FakeWeChatAPI, wechat_api

OPENID = "oSubscriber0000000000000001"
OPEN_ID = "ou_user000000000000000000000000001"
CHAT_ID = "oc_chat000000000000000000000000001"
PNG = b"\x89PNG\r\n\x1a\n fake picture"
SECRET = "hmac-secret-for-send"


@pytest.fixture
async def wechat_fake() -> AsyncIterator[FakeWeChatAPI]:
    async with wechat_api() as api:
        yield api


async def start(start_service: StartService, fake_feishu: FakeFeishu, api: FakeWeChatAPI,
                audit: bool = False, **api_section: Any) -> RunningService:
    env = {**feishu_env(fake_feishu), "WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID,
           "WECHAT_APP_SECRET": APP_SECRET, "WECHAT_API_BASE": api.url,
           "BOT_API_HMAC_SECRET": SECRET}
    config = base_config(feishu={"retry_backoff": 0.01}, api=api_section,
                         audit={"enabled": audit, "mask": False})
    return await start_service(config=config, env=env,
                               adapters=[wechat.create, feishu.create, webhook.create])


async def post(service: RunningService, body: dict[str, Any], key: str | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    sent = dict(service.auth() if headers is None else headers)
    if key:
        sent["Idempotency-Key"] = key
    async with service.http.post(f"{service.url}/api/send", json=body, headers=sent) as response:
        return response.status, await response.json(), dict(response.headers)


def to_wechat(text: str = "Your order shipped", **extra: Any) -> dict[str, Any]:
    return {"platform": "wechat", "to": {"openid": OPENID}, "text": text, **extra}


def to_feishu(to: dict[str, str], text: str = "Ticket #42 closed", **extra: Any) -> dict[str, Any]:
    return {"platform": "feishu", "account": "default", "to": to, "text": text, **extra}


async def test_a_text_to_a_wechat_subscriber_goes_out_as_a_customer_service_message(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    status, body, _ = await post(service, to_wechat())
    assert status == 200
    assert body["sent"] is True
    assert body["id"]
    assert wechat_fake.sent == [{"touser": OPENID, "msgtype": "text",
                                 "text": {"content": "Your order shipped"}}]


async def test_an_image_to_a_wechat_subscriber_is_uploaded_then_sent(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    image = {"mime": "image/png", "b64": base64.b64encode(PNG).decode()}
    status, _, _ = await post(service, to_wechat(text="", image=image))
    assert status == 200
    [upload] = wechat_fake.uploads
    assert upload["data"] == PNG
    assert wechat_fake.sent == [{"touser": OPENID, "msgtype": "image",
                                 "image": {"media_id": upload["media_id"]}}]


@pytest.mark.parametrize(("code", "meaning"), [
    (45015, "the subscriber has not written in 48 h (or unsubscribed): cannot push to them"),
    (45047, "customer-service message quota for this subscriber is used up"),
    (40003, "invalid openid"),
    (48001, "API not authorised: the account is not verified or lacks the customer-service API"),
])
async def test_a_wechat_refusal_is_a_502_with_the_errcode_and_its_meaning(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
    code: int, meaning: str,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    wechat_fake.send_errors.append(code)
    status, body, _ = await post(service, to_wechat())
    assert status == 502
    assert (body["error"]["errcode"], body["error"]["meaning"]) == (code, meaning)


async def test_a_text_to_a_feishu_user_goes_out_by_open_id(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    status, body, _ = await post(service, to_feishu({"open_id": OPEN_ID}))
    assert status == 200
    [call] = fake_feishu.ops("create")
    assert call.query["receive_id_type"] == "open_id"
    assert (call.body["receive_id"], call.body["msg_type"]) == (OPEN_ID, "text")
    assert json.loads(call.body["content"]) == {"text": "Ticket #42 closed"}
    assert body is not None
    assert call.answer is not None
    assert body["id"] == call.answer["message_id"]


async def test_a_markdown_card_to_a_feishu_chat_goes_out_by_chat_id(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    status, _, _ = await post(service, to_feishu({"chat_id": CHAT_ID}, "**Deploy** done",
                                                 card=True))
    assert status == 200
    [call] = fake_feishu.ops("create")
    assert call.query["receive_id_type"] == "chat_id"
    assert call.body["msg_type"] == "interactive"
    card = json.loads(call.body["content"])
    assert card["elements"] == [{"tag": "markdown", "content": "**Deploy** done"}]


async def test_an_image_to_a_feishu_chat_is_uploaded_then_sent(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    image = {"mime": "image/png", "b64": base64.b64encode(PNG).decode()}
    status, _, _ = await post(service, to_feishu({"chat_id": CHAT_ID}, "", image=image))
    assert status == 200
    [(image_key, uploaded)] = fake_feishu.uploaded_images()
    assert uploaded["data"] == PNG
    [call] = fake_feishu.ops("create")
    assert json.loads(call.body["content"]) == {"image_key": image_key}


@pytest.mark.parametrize(("code", "meaning"), [
    (230002, "the bot is not in this chat"),
    (230013, "the user is outside the app's availability range (the bot cannot message them)"),
    (99992361, "the open_id belongs to another app (open_ids are per app)"),
])
async def test_a_feishu_refusal_is_a_502_with_the_code_and_its_meaning(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
    code: int, meaning: str,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    fake_feishu.fail_next["create"] = [code]
    status, body, _ = await post(service, to_feishu({"chat_id": CHAT_ID}))
    assert status == 502
    assert (body["error"]["errcode"], body["error"]["meaning"]) == (code, meaning)


@pytest.mark.parametrize(("body", "says"), [
    ({"to": {"openid": OPENID}, "text": "x"}, "'platform'"),
    ({"platform": "sms", "to": {"openid": OPENID}, "text": "x"}, "'platform'"),
    ({"platform": "wechat", "to": {"open_id": OPEN_ID}, "text": "x"}, "'to'"),
    ({"platform": "feishu", "to": {"open_id": OPEN_ID, "chat_id": CHAT_ID}, "text": "x"}, "'to'"),
    ({"platform": "feishu", "to": {"chat_id": ""}, "text": "x"}, "'to'"),
    ({"platform": "wechat", "to": {"openid": OPENID}, "text": "  "}, "nothing to send"),
    ({"platform": "wechat", "to": {"openid": OPENID}, "image": {"b64": "%%%"}}, "base64"),
    ({"platform": "wechat", "to": {"openid": OPENID}, "text": "x", "image": {
        "mime": "text/html", "b64": "aGk="}}, "image.mime"),
    ({"platform": "wechat", "account": "nope", "to": {"openid": OPENID}, "text": "x"},
     "unknown wechat account"),
    ({"platform": "feishu", "account": "nope", "to": {"chat_id": CHAT_ID}, "text": "x"},
     "unknown feishu app"),
])
async def test_bad_input_is_a_400_that_sends_nothing(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
    body: dict[str, Any], says: str,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    status, answer, _ = await post(service, body)
    assert status == 400
    assert says in answer["error"]["message"]
    assert wechat_fake.sent == []
    assert fake_feishu.ops("create") == []


async def test_a_platform_that_is_not_configured_is_a_404(
    start_service: StartService, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start_service(adapters=[webhook.create])
    status, _, _ = await post(service, to_wechat())
    assert status == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}])
async def test_without_a_valid_key_nothing_is_sent(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
    headers: dict[str, str],
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    status, _, _ = await post(service, to_wechat(), headers=headers)
    assert status == 401
    assert wechat_fake.sent == []


async def test_an_hmac_signed_request_is_accepted(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    import time

    service = await start(start_service, fake_feishu, wechat_fake)
    raw = json.dumps(to_wechat()).encode()
    headers = {"Content-Type": "application/json", **signed_headers(SECRET, raw, time.time())}
    async with service.http.post(f"{service.url}/api/send", data=raw, headers=headers) as response:
        assert response.status == 200
    assert len(wechat_fake.sent) == 1


async def test_the_same_idempotency_key_sends_once_and_replays_the_answer(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    first = await post(service, to_wechat(), key="order-42-shipped")
    again = await post(service, to_wechat(), key="order-42-shipped")
    assert first[0] == again[0] == 200
    assert first[1]["id"] == again[1]["id"]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert len(wechat_fake.sent) == 1


async def test_a_refused_push_is_not_sent_again_on_a_retry_with_its_key(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake)
    wechat_fake.send_errors.append(45015)
    first = await post(service, to_wechat(), key="k1")
    again = await post(service, to_wechat(), key="k1")
    assert first[0] == again[0] == 502
    assert len(wechat_fake.calls("/cgi-bin/message/custom/send")) == 1


async def test_pushes_over_the_rate_limit_get_429_and_are_not_sent(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake, send_per_minute=2)
    statuses = [(await post(service, to_wechat()))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(wechat_fake.sent) == 2


async def test_a_push_is_written_to_the_audit_log_when_it_is_on(
    start_service: StartService, fake_feishu: FakeFeishu, wechat_fake: FakeWeChatAPI,
) -> None:
    service = await start(start_service, fake_feishu, wechat_fake, audit=True)
    await post(service, to_wechat("audited text"))
    [entry] = await service.services.auditor.search(q="audited text")
    assert (entry["kind"], entry["platform"], entry["user"], entry["outcome"]) == (
        "push", "wechat", f"wechat:{OPENID}", "sent")


async def test_a_push_from_a_listed_account_uses_that_accounts_token(
    start_service: StartService, wechat_fake: FakeWeChatAPI,
) -> None:
    wechat_fake.apps["wxshop0000000001"] = "shop-secret"
    shop = {"id": "shop", "token": "shop-token", "app_id": "wxshop0000000001",
            "app_secret": "shop-secret", "api_base": wechat_fake.url}
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WECHAT_API_BASE": wechat_fake.url}
    service = await start_service(config=base_config(wechat={"accounts": [shop]}), env=env,
                                  adapters=[wechat.create, webhook.create])
    status, _, _ = await post(service, to_wechat(account="shop"))
    assert status == 200
    [(_, _, query, _)] = wechat_fake.calls("/cgi-bin/message/custom/send")
    assert wechat_fake.issued[query["access_token"]] == "wxshop0000000001"
