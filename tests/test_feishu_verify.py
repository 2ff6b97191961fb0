"""Callback crypto and verification against Feishu's vectors, plus one negative test per check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.feishu.crypto import decrypt, encrypt, signature
from adapters.feishu.verify import Keys, open_callback
from bot.errors import BadRequest, Unauthorized

VECTORS = Path(__file__).parent / "vectors" / "feishu"
TOKEN = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV"
KEY = "test key"
NOW = 1700000000


def vectors(kind: str) -> list[Any]:
    found = [json.loads(p.read_text("utf-8")) | {"file": p.stem} for p in sorted(VECTORS.glob("*.json"))]
    return [pytest.param(v, id=v["file"]) for v in found if v["kind"] == kind]


@pytest.mark.parametrize("vector", vectors("decrypt"))
def test_decrypt_vector(vector: dict[str, Any]) -> None:
    assert decrypt(vector["encrypt_key"], vector["encrypt"]) == vector["plaintext"]


@pytest.mark.parametrize("vector", vectors("signature"))
def test_signature_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode("utf-8")
    expected = signature(vector["timestamp"], vector["nonce"], vector["encrypt_key"], body)
    assert expected == vector["signature"]


@pytest.mark.parametrize("vector", vectors("callback"))
def test_callback_vector(vector: dict[str, Any]) -> None:
    keys = Keys(vector["verification_token"], vector["encrypt_key"])
    payload = open_callback(vector["body"].encode("utf-8"), vector["headers"], keys, vector["now"])
    expect = vector["expect"]
    for field in ("type", "challenge"):
        if field in expect:
            assert payload[field] == expect[field]
    if "header" in expect:
        assert {k: payload["header"][k] for k in expect["header"]} == expect["header"]
    if "message_id" in expect:
        assert payload["event"]["message"]["message_id"] == expect["message_id"]


def test_encrypt_then_decrypt_round_trips() -> None:
    assert decrypt(KEY, encrypt(KEY, "飞书 round trip")) == "飞书 round trip"


# --- negative cases: one per check ---------------------------------------------------------------

def event(token: str = TOKEN) -> dict[str, Any]:
    return {"schema": "2.0", "header": {"event_id": "e1", "event_type": "im.message.receive_v1",
                                        "token": token}, "event": {}}


def signed(payload: dict[str, Any], key: str = KEY, ts: int = NOW) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"encrypt": encrypt(KEY, json.dumps(payload))}).encode()
    headers = {"X-Lark-Request-Timestamp": str(ts), "X-Lark-Request-Nonce": "n1",
               "X-Lark-Signature": signature(str(ts), "n1", key, body)}
    return body, headers


def test_signed_encrypted_event_is_accepted() -> None:
    body, headers = signed(event())
    assert open_callback(body, headers, Keys(TOKEN, KEY), NOW)["header"]["event_id"] == "e1"


def test_wrong_v2_header_token_is_unauthorized() -> None:
    body = json.dumps(event("wrong")).encode()
    with pytest.raises(Unauthorized, match="token"):
        open_callback(body, {}, Keys(TOKEN), NOW)


def test_wrong_v1_token_is_unauthorized() -> None:
    body = json.dumps({"uuid": "u", "token": "wrong", "type": "event_callback", "event": {}}).encode()
    with pytest.raises(Unauthorized, match="token"):
        open_callback(body, {}, Keys(TOKEN), NOW)


def test_url_verification_with_wrong_token_is_unauthorized() -> None:
    body = json.dumps({"challenge": "c", "type": "url_verification", "token": "wrong"}).encode()
    with pytest.raises(Unauthorized, match="token"):
        open_callback(body, {}, Keys(TOKEN), NOW)


def test_wrong_signature_is_unauthorized() -> None:
    body, headers = signed(event(), key="another key")
    with pytest.raises(Unauthorized, match="Signature"):
        open_callback(body, headers, Keys(TOKEN, KEY), NOW)


def test_missing_signature_on_event_with_encrypt_key_is_unauthorized() -> None:
    body, _ = signed(event())
    with pytest.raises(Unauthorized, match="required"):
        open_callback(body, {}, Keys(TOKEN, KEY), NOW)


def test_timestamp_outside_replay_window_is_unauthorized() -> None:
    body, headers = signed(event(), ts=NOW - 301)
    with pytest.raises(Unauthorized, match="replay"):
        open_callback(body, headers, Keys(TOKEN, KEY, replay_window=300), NOW)


def test_ciphertext_under_another_key_is_bad_request() -> None:
    body = json.dumps({"encrypt": encrypt("another key", json.dumps(event()))}).encode()
    with pytest.raises(BadRequest, match="decrypt"):
        open_callback(body, {}, Keys(TOKEN, KEY), NOW)


def test_ciphertext_that_is_not_base64_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="base64"):
        open_callback(b'{"encrypt":"%%%not base64%%%"}', {}, Keys(TOKEN, KEY), NOW)


def test_encrypted_body_without_configured_key_is_bad_request() -> None:
    body = json.dumps({"encrypt": encrypt(KEY, json.dumps(event()))}).encode()
    with pytest.raises(BadRequest, match="no Encrypt Key"):
        open_callback(body, {}, Keys(TOKEN), NOW)


def test_body_that_is_not_json_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="JSON"):
        open_callback(b"<xml/>", {}, Keys(TOKEN), NOW)
