"""The ways in, as real wire-format requests: builders and answer checks per scenario."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from wechatpy.crypto import WeChatCrypto

from bench.client import request_bytes
from tests.fakes.feishu import encrypted_request, message_event

WECHAT_TOKEN = "bench-token"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WECHAT_APP_ID = "wx1234567890abcdef"
API_KEY = "bench-api-key"
QUESTION = "What is the capital of France? Please answer briefly."

Build = Callable[[str, int], bytes]  # (conversation id, unique message number) -> request bytes


@dataclass(frozen=True)
class Scenario:
    """One way in: where it goes, how a request is built and how a good answer is recognised."""

    name: str
    target: str  # "service", "bare_verify", "bare_llm" or "bare_safe"
    build: Build
    expect: bytes  # a good answer's body contains this
    llm: bool = True  # the fake LLM's latency is part of its end-to-end time
    feishu: bool = False  # done when the fake Open API got the final card update
    wechat: bool = False  # WeChat semantics: 5 s window, the same push retried on a timeout


def _wechat_query(extra: str = "") -> tuple[str, str, str]:
    timestamp, nonce = str(int(time.time())), hashlib.md5(extra.encode()).hexdigest()[:10]
    signature = hashlib.sha1("".join(sorted((WECHAT_TOKEN, timestamp, nonce))).encode()).hexdigest()
    return timestamp, nonce, signature


def wechat_xml(openid: str, msg_id: int) -> str:
    """An official-shaped text push."""
    return (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{int(time.time())}"
            f"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{QUESTION}]]>"
            f"</Content><MsgId>{msg_id}</MsgId></xml>")


def wechat_plain(openid: str, msg_id: int) -> bytes:
    """A plain-mode push."""
    timestamp, nonce, signature = _wechat_query(str(msg_id))
    path = f"/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={openid}"
    return request_bytes("POST", path, wechat_xml(openid, msg_id).encode(),
                         {"Content-Type": "text/xml"})


_CRYPTO = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID)


def wechat_safe(openid: str, msg_id: int) -> bytes:
    """A safe-mode push: the message encrypted (by wechatpy) and signed with msg_signature."""
    timestamp, nonce, signature = _wechat_query(str(msg_id))
    envelope = _CRYPTO.encrypt_message(wechat_xml(openid, msg_id), nonce, timestamp)
    encrypt = envelope.split("<Encrypt><![CDATA[", 1)[1].split("]]>", 1)[0]
    msg_signature = hashlib.sha1("".join(sorted((WECHAT_TOKEN, timestamp, nonce, encrypt))).encode())
    path = (f"/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={openid}"
            f"&encrypt_type=aes&msg_signature={msg_signature.hexdigest()}")
    body = (f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    return request_bytes("POST", path, body.encode(), {"Content-Type": "text/xml"})


def feishu_event(user: str, number: int) -> bytes:
    """An encrypted, signed `im.message.receive_v1` callback (p2p text)."""
    payload = message_event(QUESTION, sender=f"ou_{user}", event_id=f"ev_bench_{number}",
                            message_id=f"om_bench_{number}")
    body, headers = encrypted_request(payload)
    return request_bytes("POST", "/feishu/events", body, headers)


def _json(path: str, payload: dict[str, object]) -> bytes:
    return request_bytes("POST", path, json.dumps(payload).encode(),
                         {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})


def api_chat(user: str, number: int) -> bytes:
    """`/api/chat`, whole answer."""
    return _json("/api/chat", {"user": user, "text": QUESTION})


def api_stream(user: str, number: int) -> bytes:
    """`/api/chat` with an NDJSON stream."""
    return _json("/api/chat", {"user": user, "text": QUESTION, "stream": True})


def relay(user: str, number: int, stream: bool = False) -> bytes:
    """`/v1/chat/completions` through the relay."""
    return _json("/v1/chat/completions", {"model": "gpt-4o-mini", "stream": stream,
                                          "messages": [{"role": "user", "content": QUESTION}]})


def relay_stream(user: str, number: int) -> bytes:
    """The relay, streamed (SSE passed through)."""
    return relay(user, number, stream=True)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("wechat_plain", "service", wechat_plain, b"fake model", wechat=True),
    Scenario("wechat_safe", "service", wechat_safe, b"<Encrypt>", wechat=True),
    Scenario("feishu", "service", feishu_event, b'"success"', feishu=True),
    Scenario("api_chat", "service", api_chat, b"fake model"),
    Scenario("api_stream", "service", api_stream, b'"done": true'),
    Scenario("relay", "service", relay, b"fake model"),
    Scenario("relay_stream", "service", relay_stream, b"[DONE]"),
    Scenario("bare_verify", "bare_verify", wechat_plain, b"pong", llm=False, wechat=True),
    Scenario("bare_llm", "bare_llm", wechat_plain, b"fake model", wechat=True),
    Scenario("bare_safe", "bare_safe", wechat_safe, b"<Encrypt>", wechat=True),
)}
