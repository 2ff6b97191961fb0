"""Open API calls on the shared aiohttp session: wire shape, connection reuse, answer-to-error mapping."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from lark_oapi.api.cardkit.v1 import (
    ContentCardElementRequest,
    ContentCardElementRequestBody,
    CreateCardRequest,
    CreateCardRequestBody,
    SettingsCardRequest,
    SettingsCardRequestBody,
)
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.json import JSON

from adapters import feishu
from adapters.feishu.api import FeishuAPI
from adapters.feishu.errors import FeishuError
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.token import TenantToken
from adapters.feishu.transport import OpenAPI, Request, answer, path_of
from bot.config import Secret
from bot.storage.memory import MemoryStorage
from tests.conftest import StartService, base_config
from tests.fakes.feishu import (
    APP_ID,
    APP_SECRET,
    FakeFeishu,
    encrypted_request,
    feishu_env,
    message_event,
    post_event,
    settle,
)


def card_text_request(card_id: str, content: str) -> Request:
    return Request("PUT", "/open-apis/cardkit/v1/cards/:card_id/elements/:element_id/content",
                   {"card_id": card_id, "element_id": "answer"},
                   body={"content": content, "sequence": 3, "uuid": "u-3"})


async def test_an_answer_reuses_one_connection_for_every_open_api_call(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    config = base_config(feishu={"card_updates_per_second": 5})
    service = await start_service(config=config, env=feishu_env(fake_feishu), adapters=[feishu.create])
    body, headers = encrypted_request(message_event("hello"))
    assert (await post_event(service.http, service.url, body, headers))[0] == 200
    await settle(service.services.tasks)
    calls = fake_feishu.ops("token", "create_card", "reply", "card_content", "card_settings")
    assert {c.op for c in calls} == {"token", "create_card", "reply", "card_content", "card_settings"}
    assert len({c.peer for c in calls}) == 1


async def test_a_typed_request_arrives_as_json_with_the_bearer_token(fake_feishu: FakeFeishu) -> None:
    async with aiohttp.ClientSession() as http:
        data = await OpenAPI(fake_feishu.url, http).send(
            "stream card", card_text_request("card_1", "你好 **x**"), fake_feishu.tenant_token)
    call = fake_feishu.ops("card_content")[0]
    assert isinstance(data, dict)
    assert (call.method, call.path) == ("PUT", "/open-apis/cardkit/v1/cards/card_1/elements/answer/content")
    assert call.headers["Authorization"] == f"Bearer {fake_feishu.tenant_token}"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.body == {"content": "你好 **x**", "sequence": 3, "uuid": "u-3"}


async def test_a_failed_typed_request_raises_feishu_error_with_its_code(fake_feishu: FakeFeishu) -> None:
    fake_feishu.fail_next["card_content"] = [300317]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(FeishuError) as caught:
            await OpenAPI(fake_feishu.url, http).send(
                "stream card", card_text_request("card_1", "x"), fake_feishu.tenant_token)
    assert caught.value.code == 300317
    assert "card sequence out of order" in str(caught.value)


def test_path_parameters_are_percent_encoded_whole() -> None:
    assert path_of(card_text_request("c/1?x#y", "x")) == (
        "/open-apis/cardkit/v1/cards/c%2F1%3Fx%23y/elements/answer/content")


def test_a_successful_answer_is_its_json_object() -> None:
    assert answer("reply", 200, b'{"code":0,"msg":"success","data":{"message_id":"om_1"}}')["data"] == {
        "message_id": "om_1"}


@pytest.mark.parametrize(("status", "body", "code"), [
    (400, b'{"code":230002,"msg":"Bot is not in the chat"}', 230002),
    (429, b"<html>Too Many Requests</html>", 429),
    (502, b'{"error":"bad gateway"}', 502),
    (200, b"not json", -1),
    (200, b"[1, 2]", -1),
])
def test_a_failed_answer_maps_to_feishu_code_or_http_status(status: int, body: bytes, code: int) -> None:
    with pytest.raises(FeishuError) as caught:
        answer("reply", status, body)
    assert caught.value.code == code


def test_a_bare_429_is_retried_as_a_rate_limit() -> None:
    with pytest.raises(FeishuError) as caught:
        answer("reply", 429, b"")
    assert caught.value.rate_limited


def lark_wire(request: Any) -> tuple[str, str, dict[str, str], Any]:
    """What lark-oapi's typed request puts on the wire: method, path, query and JSON body."""
    return (request.http_method.name, path_of(request), dict(request.queries),
            json.loads(JSON.marshal(request.body)))


def _lark_requests() -> list[tuple[str, Callable[[FeishuAPI], Awaitable[Any]], Any]]:
    card = {"schema": "2.0", "body": {"elements": []}}
    return [
        ("reply", lambda api: api.reply("om_1", "interactive", '{"x":"你好"}', True, "u" * 60),
         ReplyMessageRequest.builder().message_id("om_1").request_body(
             ReplyMessageRequestBody.builder().msg_type("interactive").content('{"x":"你好"}')
             .reply_in_thread(True).uuid("u" * 50).build()).build()),
        ("create", lambda api: api.send("chat_id", "oc_1", "text", '{"text":"hi"}', "v-1"),
         CreateMessageRequest.builder().receive_id_type("chat_id").request_body(
             CreateMessageRequestBody.builder().receive_id("oc_1").msg_type("text")
             .content('{"text":"hi"}').uuid("v-1").build()).build()),
        ("patch", lambda api: api.patch("om_2", '{"card":1}'),
         PatchMessageRequest.builder().message_id("om_2").request_body(
             PatchMessageRequestBody.builder().content('{"card":1}').build()).build()),
        ("create_card", lambda api: api.create_card(card),
         CreateCardRequest.builder().request_body(
             CreateCardRequestBody.builder().type("card_json").data(json.dumps(card)).build()).build()),
        ("card_content", lambda api: api.card_text("c_1", "answer", "**x**", 7),
         ContentCardElementRequest.builder().card_id("c_1").element_id("answer").request_body(
             ContentCardElementRequestBody.builder().content("**x**").sequence(7).uuid("c_1-7")
             .build()).build()),
        ("card_settings", lambda api: api.card_settings("c_1", {"config": {"streaming_mode": False}}, 8),
         SettingsCardRequest.builder().card_id("c_1").request_body(
             SettingsCardRequestBody.builder().settings(json.dumps({"config": {"streaming_mode": False}}))
             .sequence(8).build()).build()),
    ]


@pytest.mark.parametrize(("op", "call", "typed"), _lark_requests(),
                         ids=[op for op, _, _ in _lark_requests()])
async def test_each_open_api_call_matches_lark_oapis_typed_request_on_the_wire(
    fake_feishu: FakeFeishu, op: str, call: Callable[[FeishuAPI], Awaitable[Any]], typed: Any
) -> None:
    settings = FeishuSettings(APP_ID, Secret(APP_SECRET), base_url=fake_feishu.url)
    async with aiohttp.ClientSession() as http:
        await call(FeishuAPI(settings, http, TenantToken(settings, http, MemoryStorage())))
    sent = fake_feishu.ops(op)[0]
    assert (sent.method, sent.path, sent.query, sent.body) == lark_wire(typed)
