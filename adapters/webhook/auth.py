"""Bearer-key authentication against `BOT_API_KEYS`, constant-time."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bot.bearer import matches_any, offered_key
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
        if not matches_any(offered_key(request, "key"), self._keys):
            raise Unauthorized("invalid API key")
