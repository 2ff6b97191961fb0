"""Request authentication: WeChat's sha1 signatures (constant-time) and the replay window."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping

from bot.errors import Forbidden

log = logging.getLogger(__name__)


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 over the lexicographically sorted strings, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(token: str, signature: str, timestamp: str, nonce: str, *extra: str) -> bool:
    """True when `signature` matches token+timestamp+nonce (+Encrypt for `msg_signature`)."""
    expected = sign(token, timestamp, nonce, *extra)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def within_window(timestamp: str, now: float, window: float) -> bool:
    """True when `timestamp` (Unix seconds) is at most `window` seconds from `now`; 0 disables."""
    if window <= 0:
        return True
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent) <= window


def require_query(token: str, query: Mapping[str, str], now: float, window: float) -> None:
    """Check `signature` and `timestamp` of a GET or POST; Forbidden (logged) when either fails."""
    signature, timestamp, nonce = (query.get(k, "") for k in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce) or not signature_ok(token, signature, timestamp, nonce):
        log.warning("wechat: refused a request with a missing or wrong signature")
        raise Forbidden("invalid signature")
    if not within_window(timestamp, now, window):
        log.warning("wechat: refused a request whose timestamp %r is outside the replay window",
                    timestamp[:20])
        raise Forbidden("timestamp outside the allowed window")


def require_msg_signature(token: str, query: Mapping[str, str], encrypt: str) -> None:
    """Check `msg_signature` over the encrypted body; Forbidden (logged) when it fails."""
    signature = query.get("msg_signature", "")
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not signature or not signature_ok(token, signature, timestamp, nonce, encrypt):
        log.warning("wechat: refused an encrypted request with a missing or wrong msg_signature")
        raise Forbidden("invalid msg_signature")
