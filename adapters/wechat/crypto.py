"""Compatible and safe mode: AES-256-CBC as WeChat specifies it, on wechatpy's primitives.

Encryption is wechatpy's `WeChatCrypto.encrypt_message`. Decryption uses wechatpy's cipher but
checks every field itself: wechatpy reads the PKCS#7 pad without validating it and raises half a
dozen unrelated exception types on broken input, and each of those must become a 400, not a 500.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

from wechatpy.crypto import WeChatCrypto
from wechatpy.crypto.base import WeChatCipher

from bot.errors import BadRequest, ConfigError

_KEY_CHARS = re.compile(r"^[A-Za-z0-9]{43}$")
_PAD_BLOCK = 32  # WeChat pads to 32 bytes, not the AES block size
_RANDOM = 16
_LENGTH = 4


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key from the 43-character EncodingAESKey; ConfigError when malformed."""
    if not _KEY_CHARS.match(encoding_aes_key):
        raise ConfigError("wechat.encoding_aes_key (WECHAT_ENCODING_AES_KEY): "
                          "expected 43 letters and digits, as shown in the WeChat console")
    return base64.b64decode(encoding_aes_key + "=")


class Cipher:
    """Encrypts replies and decrypts `<Encrypt>` for one account (token, key, app id)."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._key = aes_key(encoding_aes_key)
        self._app_id = app_id
        self._crypto = WeChatCrypto(token, encoding_aes_key, app_id)

    def decrypt(self, encrypt: str) -> str:
        """The plaintext message; BadRequest for bad base64, length, padding, framing or app id."""
        try:
            raw = base64.b64decode(encrypt.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("Encrypt is not valid base64") from None
        if not raw or len(raw) % 16:
            raise BadRequest("Encrypt has a length that AES-CBC cannot have")
        plain: bytes = WeChatCipher(self._key).decrypt(raw)
        pad = plain[-1]
        if not 1 <= pad <= _PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise BadRequest("Encrypt has bad padding (wrong EncodingAESKey?)")
        content = plain[_RANDOM:-pad]
        if len(content) < _LENGTH:
            raise BadRequest("Encrypt is too short")
        (length,) = struct.unpack(">I", content[:_LENGTH])
        if length > len(content) - _LENGTH:
            raise BadRequest("Encrypt has a bad length field")
        body, app_id = content[_LENGTH:_LENGTH + length], content[_LENGTH + length:]
        try:
            text, sender = body.decode("utf-8"), app_id.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("Encrypt does not decrypt to UTF-8 text") from None
        if sender != self._app_id:
            raise BadRequest("Encrypt was made for another app id")
        return text

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        """The encrypted reply envelope (Encrypt, MsgSignature, TimeStamp, Nonce)."""
        envelope: str = self._crypto.encrypt_message(xml, nonce, timestamp)
        return envelope
