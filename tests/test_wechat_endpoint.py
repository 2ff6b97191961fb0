"""`/wechat` over real HTTP: verification, the three message modes, and refusals of bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from adapters import wechat
from adapters.wechat.verify import sign
from tests.conftest import StartService, base_config
from tests.fakes.openai import FakeOpenAI
from tests.fakes.wechat import ACCOUNT, OPENID, TOKEN, start_wechat, text_xml

FAST: dict[str, Any] = {"deadline": 2.0, "hold": 3.0}


def verify_query(timestamp: str | None = None, token: str = TOKEN) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {"signature": sign(token, timestamp, "1514711492"), "timestamp": timestamp,
            "nonce": "1514711492", "echostr": "4375120948345356249"}


async def test_url_verification_echoes_echostr(start_service: StartService) -> None:
    service = (await start_wechat(start_service)).service
    async with service.http.get(f"{service.url}/wechat", params=verify_query()) as response:
        assert (response.status, await response.text()) == (200, "4375120948345356249")


async def test_url_verification_with_wrong_signature_is_403(start_service: StartService) -> None:
    service = (await start_wechat(start_service)).service
    query = verify_query(token="other")
    async with service.http.get(f"{service.url}/wechat", params=query) as response:
        assert response.status == 403
        assert "4375120948345356249" not in await response.text()


async def test_url_verification_outside_replay_window_is_403(start_service: StartService) -> None:
    service = (await start_wechat(start_service)).service
    old = str(int(time.time()) - 3600)
    async with service.http.get(f"{service.url}/wechat", params=verify_query(old)) as response:
        assert response.status == 403


async def test_adapter_is_off_without_token(start_service: StartService) -> None:
    service = await start_service(config=base_config(), adapters=[wechat.create])
    async with service.http.get(f"{service.url}/wechat", params=verify_query()) as response:
        assert response.status == 404


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_text_is_answered_in_every_mode(start_service: StartService, mode: str) -> None:
    pusher = await start_wechat(start_service, mode=mode, **FAST)
    reply, _ = await pusher.push(text_xml("hello"))
    assert reply is not None
    assert reply.content == "You said: hello"


@pytest.mark.parametrize(("mode", "encrypted"), [("plain", False), ("compatible", True), ("safe", True)])
async def test_reply_is_encrypted_exactly_when_the_push_was(
    start_service: StartService, mode: str, encrypted: bool
) -> None:
    pusher = await start_wechat(start_service, mode=mode, **FAST)
    reply, _ = await pusher.push(text_xml("hello"))
    assert reply is not None
    assert reply.encrypted is encrypted


async def test_plain_reply_addresses_the_subscriber_from_the_account(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(text_xml("hello"))
    assert reply is not None
    assert f"<ToUserName><![CDATA[{OPENID}]]></ToUserName>" in reply.body
    assert f"<FromUserName><![CDATA[{ACCOUNT}]]></FromUserName>" in reply.body


async def test_post_with_wrong_signature_is_403_and_never_reaches_the_llm(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    pusher = await start_wechat(start_service, **FAST)
    query, body = pusher.sign_push(text_xml("hello"))
    query["signature"] = "0" * 40
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 403
    assert fake_openai.chat_calls == []


async def test_post_without_signature_is_403(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    query, body = pusher.sign_push(text_xml("hello"))
    del query["signature"]
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 403


async def test_post_outside_replay_window_is_403(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    query, body = pusher.sign_push(text_xml("hello"), timestamp=str(int(time.time()) - 3600))
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 403


@pytest.mark.parametrize("mode", ["compatible", "safe"])
async def test_encrypted_post_with_wrong_msg_signature_is_403(start_service: StartService, mode: str) -> None:
    pusher = await start_wechat(start_service, mode=mode, **FAST)
    query, body = pusher.sign_push(text_xml("hello"))
    query["msg_signature"] = "0" * 40
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 403


def _with_encrypt(pusher_query: dict[str, str], encrypt: str) -> tuple[dict[str, str], str]:
    query = dict(pusher_query)
    query["msg_signature"] = sign(TOKEN, query["timestamp"], query["nonce"], encrypt)
    body = f"<xml><ToUserName>{ACCOUNT}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return query, body


@pytest.mark.parametrize("encrypt", ["!!!notb64", "eHh4eHh4eHh4eHh4eHh4eHh4eHg=", "A" * 88],
                         ids=["not base64", "20 bytes", "random blocks"])
async def test_broken_ciphertext_with_valid_msg_signature_is_400(start_service: StartService,
                                                                 encrypt: str) -> None:
    pusher = await start_wechat(start_service, mode="safe", **FAST)
    query, _ = pusher.sign_push(text_xml("hello"))
    reply = await pusher.post(*_with_encrypt(query, encrypt))
    assert reply is not None
    assert reply.status == 400


async def test_encrypted_push_without_aes_key_is_400(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    pusher.mode = "safe"
    query, body = pusher.sign_push(text_xml("hello"))
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 400


XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
       "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>")
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
          "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
          "<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>")


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["xxe", "billion laughs"])
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_entity_bodies_are_400(start_service: StartService, fake_openai: FakeOpenAI,
                                     body: str, mode: str) -> None:
    pusher = await start_wechat(start_service, mode=mode, **FAST)
    query, signed = pusher.sign_push(body)
    reply = await pusher.post(query, signed)
    assert reply is not None
    assert reply.status == 400


@pytest.mark.parametrize("body", [b"not xml", b"<xml><a>1</a></xml>", b"\xff\xfe<xml/>", b"<other/>"],
                         ids=["not xml", "no MsgType", "not utf-8", "wrong root"])
async def test_malformed_bodies_are_400(start_service: StartService, body: bytes) -> None:
    pusher = await start_wechat(start_service, **FAST)
    query, _ = pusher.sign_push("")
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 400


async def test_oversized_body_is_413(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, max_body_bytes=2048, **FAST)
    query, body = pusher.sign_push(text_xml("x" * 4000))
    reply = await pusher.post(query, body)
    assert reply is not None
    assert reply.status == 413
