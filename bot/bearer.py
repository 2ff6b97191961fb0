"""Bearer keys, checked the same way wherever the service takes them (the API, the admin plane)."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web

from bot.errors import Unauthorized


def offered_key(request: web.Request, what: str) -> bytes:
    """The `Authorization: Bearer` token as sent, or Unauthorized asking for `what`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"missing bearer token: send 'Authorization: Bearer <{what}>'")
    # aiohttp keeps undecodable header bytes as surrogates: compare the bytes as sent
    return token.strip().encode("utf-8", "surrogateescape")


def matches_any(offered: bytes, keys: Sequence[bytes]) -> bool:
    """Whether `offered` is one of `keys`, compared with every key so timing says nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(offered, key)
    return matched
