"""Callback verification, before anything else: signature, replay window, decryption, token.

Pure functions with the clock passed in, checked against Feishu's vectors. Failures raise
BadRequest (malformed) or Unauthorized (wrong credentials); the app answers them as JSON 4xx.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.feishu.crypto import decrypt, signature
from bot.errors import BadRequest, Unauthorized
from bot.payload import json_object

SIGNATURE = "x-lark-signature"
TIMESTAMP = "x-lark-request-timestamp"
NONCE = "x-lark-request-nonce"


@dataclass(frozen=True, slots=True)
class Keys:
    """What a callback is checked with; empty strings mean "not configured"."""

    verification_token: str = ""
    encrypt_key: str = ""
    replay_window: float = 300.0


def check_signature(body: bytes, headers: Mapping[str, str], keys: Keys, now: float) -> None:
    """The X-Lark-* headers against the raw body, and the timestamp against the replay window."""
    timestamp, nonce = headers.get(TIMESTAMP, ""), headers.get(NONCE, "")
    given = headers.get(SIGNATURE, "")
    if not (timestamp and given):
        raise Unauthorized("X-Lark-Signature and X-Lark-Request-Timestamp are required")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Unauthorized("X-Lark-Request-Timestamp is not a number") from None
    if keys.replay_window > 0 and abs(now - sent_at) > keys.replay_window:
        raise Unauthorized("X-Lark-Request-Timestamp is outside the replay window")
    expected = signature(timestamp, nonce, keys.encrypt_key, body)
    if not hmac.compare_digest(expected, given.lower()):
        raise Unauthorized("X-Lark-Signature does not match")


def check_token(payload: Mapping[str, Any], keys: Keys) -> None:
    """The Verification Token: schema 2.0 `header.token`, schema 1.0 and url_verification `token`."""
    if not keys.verification_token:
        return
    header = payload.get("header")
    token = header.get("token") if isinstance(header, dict) else payload.get("token")
    if not isinstance(token, str) or not hmac.compare_digest(
        token.encode("utf-8"), keys.verification_token.encode("utf-8")
    ):
        raise Unauthorized("verification token does not match")


def open_callback(body: bytes, headers: Mapping[str, str], keys: Keys, now: float) -> dict[str, Any]:
    """The verified, decrypted callback payload.

    The signature is checked whenever it is sent, and required for everything but
    url_verification once an Encrypt Key is set (Feishu does not sign URL verification).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    outer = json_object(body, "body")
    signed = bool(lower.get(SIGNATURE))
    if signed and keys.encrypt_key:
        check_signature(body, lower, keys, now)
    payload = outer
    if "encrypt" in outer:
        if not keys.encrypt_key:
            raise BadRequest("the callback is encrypted but no Encrypt Key is configured")
        if not isinstance(outer["encrypt"], str):
            raise BadRequest("encrypt must be a string")
        payload = json_object(decrypt(keys.encrypt_key, outer["encrypt"]), "decrypted body")
    is_challenge = payload.get("type") == "url_verification"
    if keys.encrypt_key and not signed and not is_challenge:
        raise Unauthorized("X-Lark-Signature is required when an Encrypt Key is configured")
    check_token(payload, keys)
    return payload
