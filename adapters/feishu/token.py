"""The tenant_access_token, fetched with aiohttp and shared in storage by every instance.

lark-oapi's own token fetch is a blocking `requests` call inside its async methods (docs/feishu.md
§8); this token goes with every Open API call the adapter makes (transport.py).
"""

from __future__ import annotations

import aiohttp

from adapters.feishu.errors import FeishuError
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.transport import answer
from bot.storage import Storage
from bot.tokens import SharedToken

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
EARLY_REFRESH = 600.0  # Feishu issues a new token in the last 30 min; refresh well before expiry


class TenantToken:
    """`get()` a valid token; `refresh(stale)` after Feishu rejected `stale`; `fetch()` one
    straight from Feishu (the start-up check). Shared by every instance (bot/tokens.py)."""

    def __init__(self, settings: FeishuSettings, http: aiohttp.ClientSession, storage: Storage) -> None:
        self._settings = settings
        self._http = http
        self._shared = SharedToken(storage, f"feishu:tenant_token:{settings.app_id}", self.fetch,
                                   f"feishu tenant token ({settings.app_id})")

    async def get(self) -> str:
        """A valid token (this process's, the instances' in storage, or a new one)."""
        return await self._shared.get()

    async def refresh(self, stale: str) -> str:
        """A token other than the one Feishu rejected."""
        return await self._shared.refresh(stale)

    async def fetch(self) -> tuple[str, float]:
        """A new token from Feishu and how long to keep it (refreshed well before it expires)."""
        body = {"app_id": self._settings.app_id, "app_secret": self._settings.app_secret.reveal()}
        url = self._settings.base_url + TOKEN_PATH
        try:
            async with self._http.post(url, json=body) as response:
                data = answer("tenant token", response.status, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FeishuError("tenant token", -1, f"{type(exc).__name__}: {exc}") from None
        if not data.get("tenant_access_token"):
            raise FeishuError("tenant token", -1, "no tenant_access_token in the answer")
        lifetime = float(data.get("expire", 7200))
        ttl = lifetime - EARLY_REFRESH if lifetime > 2 * EARLY_REFRESH else lifetime / 2
        return str(data["tenant_access_token"]), ttl
