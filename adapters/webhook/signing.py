"""HMAC request signing for `/api/chat` and for our callbacks: pure functions, clock injected.

Signature: `X-Bot-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Bot-Timestamp>." + raw body)>`.
"""

from __future__ import annotations

import hashlib
import hmac

from bot.errors import Unauthorized

TIMESTAMP_HEADER = "X-Bot-Timestamp"
SIGNATURE_HEADER = "X-Bot-Signature"
WINDOW_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float) -> None:
    """Raise Unauthorized unless the signature matches and the timestamp is within ±300 s."""
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthorized(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now - sent) > WINDOW_SECONDS:
        raise Unauthorized(f"{TIMESTAMP_HEADER} is outside the ±{WINDOW_SECONDS} s window")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise Unauthorized(f"{SIGNATURE_HEADER} does not match the body")


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """Headers for a request we sign."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}
