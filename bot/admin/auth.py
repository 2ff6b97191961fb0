"""Bearer keys for the admin plane (`BOT_ADMIN_KEYS`), compared in constant time."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aiohttp import web

from bot.bearer import matches_any, offered_key
from bot.config import Secret
from bot.errors import Unauthorized


class AdminAuth:
    """Checks `Authorization: Bearer <admin key>`; never accepts the chat API's keys."""

    def __init__(self, keys: Sequence[Secret]) -> None:
        self._keys = tuple(k.reveal().encode() for k in keys if k)

    def check(self, request: web.Request) -> str:
        """A short fingerprint of the key used (for the audit trail), or Unauthorized."""
        offered = offered_key(request, "admin key")
        if not matches_any(offered, self._keys):
            raise Unauthorized("invalid admin key")
        return "key:" + hashlib.sha256(offered).hexdigest()[:12]
