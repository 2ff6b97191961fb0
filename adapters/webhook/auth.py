"""Bearer-key authentication against `BOT_API_KEYS`, constant-time."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from aiohttp import web

from bot.config import Secret
from bot.errors import Forbidden, Unauthorized


class BearerAuth:
    """Checks `Authorization: Bearer <key>`; with no keys configured nobody gets in."""

    def __init__(self, keys: Sequence[Secret]) -> None:
        self._keys = tuple(k.reveal().encode() for k in keys if k)

    def check(self, request: web.Request) -> None:
        """Raise Unauthorized/Forbidden unless the request carries a configured key."""
        if not self._keys:
            raise Forbidden("this endpoint is disabled: the operator has not set BOT_API_KEYS")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <key>'")
        # aiohttp keeps undecodable header bytes as surrogates: compare the bytes as sent
        offered = token.strip().encode("utf-8", "surrogateescape")
        matched = False
        for key in self._keys:  # compare with every key, so timing says nothing about which
            matched |= hmac.compare_digest(offered, key)
        if not matched:
            raise Unauthorized("invalid API key")
