"""Bearer keys for the admin plane (`BOT_ADMIN_KEYS`), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from aiohttp import web

from bot.config import Secret
from bot.errors import Unauthorized


class AdminAuth:
    """Checks `Authorization: Bearer <admin key>`; never accepts the chat API's keys."""

    def __init__(self, keys: Sequence[Secret]) -> None:
        self._keys = tuple(k.reveal().encode() for k in keys if k)

    def check(self, request: web.Request) -> str:
        """A short fingerprint of the key used (for the audit trail), or Unauthorized."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing bearer token: send 'Authorization: Bearer <admin key>'")
        offered = token.strip().encode("utf-8", "surrogateescape")
        matched = False
        for key in self._keys:  # compare with every key, so timing says nothing about which
            matched |= hmac.compare_digest(offered, key)
        if not matched:
            raise Unauthorized("invalid admin key")
        return "key:" + hashlib.sha256(offered).hexdigest()[:12]
