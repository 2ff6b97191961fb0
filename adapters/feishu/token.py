"""The tenant_access_token, fetched with aiohttp and cached in storage for every instance.

lark-oapi's own token fetch is a blocking `requests` call inside its async methods (docs/feishu.md
§8); this token goes with every Open API call the adapter makes (transport.py).
"""

from __future__ import annotations

import contextlib
import logging
import time

import aiohttp

from adapters.feishu.errors import FeishuError
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.transport import answer
from bot.errors import StorageUnavailable
from bot.storage import Storage

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
EARLY_REFRESH = 600.0  # Feishu issues a new token in the last 30 min; refresh well before expiry


class TenantToken:
    """`get()` returns a valid token; `refresh()` discards a token Feishu rejected."""

    def __init__(self, settings: FeishuSettings, http: aiohttp.ClientSession, storage: Storage) -> None:
        self._settings = settings
        self._http = http
        self._storage = storage
        self._key = f"feishu:tenant_token:{settings.app_id}"
        self._memo: tuple[str, float] | None = None

    async def get(self) -> str:
        """Process memo, then storage (shared by instances), then Feishu."""
        if self._memo and self._memo[1] > time.monotonic():
            return self._memo[0]
        try:
            cached = await self._storage.get(self._key)
        except StorageUnavailable:
            cached = None
        if cached:
            self._memo = (cached, time.monotonic() + 60)
            return cached
        return await self._fetch()

    async def refresh(self) -> str:
        """Forget the current token and fetch a new one."""
        self._memo = None
        with contextlib.suppress(StorageUnavailable):
            await self._storage.delete(self._key)
        return await self._fetch()

    async def _fetch(self) -> str:
        body = {"app_id": self._settings.app_id, "app_secret": self._settings.app_secret.reveal()}
        url = self._settings.base_url + TOKEN_PATH
        try:
            async with self._http.post(url, json=body) as response:
                data = answer("tenant token", response.status, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FeishuError("tenant token", -1, f"{type(exc).__name__}: {exc}") from None
        if not data.get("tenant_access_token"):
            raise FeishuError("tenant token", -1, "no tenant_access_token in the answer")
        token = str(data["tenant_access_token"])
        lifetime = float(data.get("expire", 7200))
        ttl = lifetime - EARLY_REFRESH if lifetime > 2 * EARLY_REFRESH else lifetime / 2
        self._memo = (token, time.monotonic() + min(ttl, 60.0))
        try:
            await self._storage.set(self._key, token, ttl=max(ttl, 1.0))
        except StorageUnavailable as exc:
            log.warning("feishu token not shared through storage: %s", exc)
        return token
