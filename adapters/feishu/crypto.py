"""Feishu callback crypto: AES-256-CBC with key = SHA-256(Encrypt Key), and the request signature."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from Crypto.Cipher import AES

from bot.errors import BadRequest

BLOCK = 16


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def decrypt(encrypt_key: str, encrypted: str) -> str:
    """Plaintext of an `encrypt` field; BadRequest on anything that is not valid ciphertext."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("encrypt is not valid base64") from None
    if len(raw) < 2 * BLOCK or len(raw) % BLOCK:
        raise BadRequest("encrypt has the wrong length")
    plain = AES.new(_key(encrypt_key), AES.MODE_CBC, raw[:BLOCK]).decrypt(raw[BLOCK:])
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise BadRequest("encrypt could not be decrypted (wrong Encrypt Key?)")
    try:
        return plain[:-pad].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("encrypt could not be decrypted (wrong Encrypt Key?)") from None


def encrypt(encrypt_key: str, plaintext: str, iv: bytes | None = None) -> str:
    """The inverse of `decrypt` (what Feishu does); used by tests and the fake server."""
    iv = iv or os.urandom(BLOCK)
    data = plaintext.encode("utf-8")
    pad = BLOCK - len(data) % BLOCK
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(data + bytes([pad]) * pad)).decode("ascii")


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """`X-Lark-Signature`: hex SHA-256 of timestamp + nonce + Encrypt Key + the raw body bytes."""
    prefix = (timestamp + nonce + encrypt_key).encode("utf-8")
    return hashlib.sha256(prefix + body).hexdigest()
