"""Open API calls on the shared aiohttp session: wire shape, connection reuse, answer-to-error mapping."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from lark_oapi.api.cardkit.v1 import (
    ContentCardElementRequest,
    ContentCardElementRequestBody,
    ContentCardElementResponse,
)

from adapters import feishu
from adapters.feishu.errors import FeishuError
from adapters.feishu.transport import OpenAPI, answer, path_of
from tests.conftest import StartService, base_config
from tests.fakes.feishu import (
    FakeFeishu,
    encrypted_request,
    feishu_env,
    message_event,
    post_event,
    settle,
)


def card_text_request(card_id: str, content: str) -> Any:
    body = ContentCardElementRequestBody.builder().content(content).sequence(3).uuid("u-3").build()
    return (ContentCardElementRequest.builder().card_id(card_id).element_id("answer")
            .request_body(body).build())


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
        response = await OpenAPI(fake_feishu.url, http).send(
            "stream card", card_text_request("card_1", "你好 **x**"), ContentCardElementResponse,
            fake_feishu.tenant_token)
    call = fake_feishu.ops("card_content")[0]
    assert response.success()
    assert (call.method, call.path) == ("PUT", "/open-apis/cardkit/v1/cards/card_1/elements/answer/content")
    assert call.headers["Authorization"] == f"Bearer {fake_feishu.tenant_token}"
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.body == {"content": "你好 **x**", "sequence": 3, "uuid": "u-3"}


async def test_a_failed_typed_request_raises_feishu_error_with_its_code(fake_feishu: FakeFeishu) -> None:
    fake_feishu.fail_next["card_content"] = [300317]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(FeishuError) as caught:
            await OpenAPI(fake_feishu.url, http).send(
                "stream card", card_text_request("card_1", "x"), ContentCardElementResponse,
                fake_feishu.tenant_token)
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
