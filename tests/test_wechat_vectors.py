"""Published WeChat vectors (signatures and message crypto) and the broken-ciphertext zoo."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import wechatpy.crypto
from wechatpy.crypto import WeChatCrypto

from adapters.wechat.crypto import Cipher, aes_key
from adapters.wechat.verify import signature_ok, within_window
from bot.errors import BadRequest, ConfigError

VECTORS = Path(__file__).parent / "vectors" / "wechat"


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads((VECTORS / name).read_text(encoding="utf-8")))


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["id"] for v in vectors]


SIGNATURES, DECRYPTS, ENCRYPTS = load("signatures.json"), load("decrypt.json"), load("encrypt.json")


@pytest.mark.parametrize("v", SIGNATURES, ids=ids(SIGNATURES))
def test_signature_vector(v: dict[str, Any]) -> None:
    assert signature_ok(v["token"], v["signature"], v["timestamp"], v["nonce"], *v["extra"]) is v["valid"]


@pytest.mark.parametrize("v", DECRYPTS, ids=ids(DECRYPTS))
def test_decrypt_vector(v: dict[str, Any]) -> None:
    assert Cipher(v["token"], v["aes_key"], v["app_id"]).decrypt(v["encrypt"]) == v["plaintext"]


@pytest.mark.parametrize("v", ENCRYPTS, ids=ids(ENCRYPTS))
def test_encrypt_vector_is_byte_exact(v: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wechatpy.crypto.PrpCrypto, "get_random_string", lambda self: v["random"])
    envelope = Cipher(v["token"], v["aes_key"], v["app_id"]).encrypt(v["plaintext"], v["nonce"],
                                                                    v["timestamp"])
    assert f"<Encrypt><![CDATA[{v['encrypt']}]]></Encrypt>" in envelope
    assert f"<MsgSignature><![CDATA[{v['msg_signature']}]]></MsgSignature>" in envelope


def test_wechatpy_encrypted_message_decrypts_with_our_cipher() -> None:
    message = "<xml><Content><![CDATA[你好]]></Content></xml>"
    envelope = WeChatCrypto("tok", "A" * 43, "wxapp").encrypt_message(message, "n", "1")
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert Cipher("tok", "A" * 43, "wxapp").decrypt(encrypt) == message


def test_our_encrypted_reply_decrypts_with_wechatpy() -> None:
    envelope = Cipher("tok", "A" * 43, "wxapp").encrypt("<xml>reply</xml>", "nonce1", "1700000000")
    fields = {tag: envelope.split(f"<{tag}>")[1].split(f"</{tag}>")[0].removeprefix("<![CDATA[")
              .removesuffix("]]>") for tag in ("MsgSignature", "TimeStamp", "Nonce")}
    plain = WeChatCrypto("tok", "A" * 43, "wxapp").decrypt_message(
        envelope, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
    assert plain == "<xml>reply</xml>"


def _ciphertext(plain: bytes, key: str = "A" * 43) -> str:
    """Encrypt raw bytes with WeChat's key and IV, no padding added (the caller controls it)."""
    from wechatpy.crypto.base import WeChatCipher

    return base64.b64encode(WeChatCipher(aes_key(key)).encrypt(plain)).decode()


BROKEN = {
    "not base64": "!!!notb64",
    "base64 of 20 bytes": base64.b64encode(b"x" * 20).decode(),
    "64 random bytes": base64.b64encode(os.urandom(64)).decode(),
    "empty": "",
    "zero padding byte": _ciphertext(b"r" * 16 + b"\x00\x00\x00\x01" + b"x" + b"wxapp" + b"\x00" * 6),
    "padding over 32": _ciphertext(b"r" * 16 + b"\x00\x00\x00\x01" + b"x" + b"wxapp" + b"\x21" * 6),
    "length field past the end": _ciphertext(b"r" * 16 + b"\x00\x00\xff\xff" + b"x" * 6 + bytes([6]) * 6),
    "not UTF-8": _ciphertext(b"r" * 16 + b"\x00\x00\x00\x02" + b"\xff\xfe" + b"wxapp" + bytes([5]) * 5),
}


@pytest.mark.parametrize("encrypt", BROKEN.values(), ids=BROKEN.keys())
def test_broken_ciphertext_is_a_bad_request(encrypt: str) -> None:
    with pytest.raises(BadRequest):
        Cipher("tok", "A" * 43, "wxapp").decrypt(encrypt)


def test_ciphertext_for_another_app_id_is_a_bad_request() -> None:
    envelope = WeChatCrypto("tok", "A" * 43, "wxother").encrypt_message("<xml/>", "n", "1")
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    with pytest.raises(BadRequest, match="another app id"):
        Cipher("tok", "A" * 43, "wxapp").decrypt(encrypt)


def test_ciphertext_under_another_key_is_a_bad_request() -> None:
    envelope = WeChatCrypto("tok", "B" * 43, "wxapp").encrypt_message("<xml/>", "n", "1")
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    with pytest.raises(BadRequest):
        Cipher("tok", "A" * 43, "wxapp").decrypt(encrypt)


def test_malformed_encoding_aes_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="WECHAT_ENCODING_AES_KEY"):
        aes_key("too-short")


@pytest.mark.parametrize(("timestamp", "ok"), [("1000", True), ("1300", True), ("1301", False),
                                                ("699", False), ("abc", False)])
def test_replay_window(timestamp: str, ok: bool) -> None:
    assert within_window(timestamp, now=1000.0, window=300.0) is ok
