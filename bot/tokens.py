"""A platform's access token shared by every instance, with one refresher at a time across them.

WeChat's access token and Feishu's tenant token are both fetched with the app's secret, live
about 2 h, and (WeChat's /cgi-bin/token) invalidate the one before: instances that fetched on
their own would throw each other's tokens away. So the token lives in storage; a process keeps it
in memory for a minute at most; a refresh takes a short lease in storage (`SET NX`), and the
other instances wait for its result instead of fetching too. When storage is unreachable, or the
lease holder does not answer within the lease, a process fetches for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bot.errors import StorageUnavailable
from bot.storage import Storage

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[tuple[str, float]]]
"""Fetches a new token from the platform: (token, seconds it may be cached)."""

MEMO = 60.0  # seconds a process reuses the token without asking storage
LEASE = 10.0  # seconds one instance may take to fetch before another fetches too
POLL = 0.1  # seconds between looks at storage while another instance fetches


class SharedToken:
    """`get()` a valid token; `refresh(stale)` after the platform rejected `stale`."""

    def __init__(self, storage: Storage, key: str, fetch: Fetch, what: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._storage = storage
        self._key = key
        self._fetch = fetch
        self._what = what  # for the log: "wechat access token", ...
        self._clock = clock
        self._memo: tuple[str, float] | None = None
        self._lock = asyncio.Lock()  # one refresh per process at a time

    async def get(self) -> str:
        """The memo, else storage, else a fetch."""
        if self._memo is not None and self._memo[1] > self._clock():
            return self._memo[0]
        return await self._obtain(stale=None)

    async def refresh(self, stale: str) -> str:
        """A token other than `stale`: another instance's newer one, or a new fetch."""
        self._memo = None
        return await self._obtain(stale)

    async def _obtain(self, stale: str | None) -> str:
        async with self._lock:
            cached = await self._cached(stale)
            if cached is not None:
                return cached
            try:
                won = await self._storage.claim(f"{self._key}:refreshing", LEASE)
            except StorageUnavailable:
                return await self._fetch_and_share()
            if won:
                return await self._refresh_holding_lease()
            return await self._wait_for_other(stale)

    async def _refresh_holding_lease(self) -> str:
        try:
            return await self._fetch_and_share()
        finally:
            with contextlib.suppress(StorageUnavailable):
                await self._storage.delete(f"{self._key}:refreshing")

    async def _wait_for_other(self, stale: str | None) -> str:
        """Another instance is fetching: take its token once stored (or fetch after the lease)."""
        end = self._clock() + LEASE
        while self._clock() < end:
            await asyncio.sleep(POLL)
            cached = await self._cached(stale)
            if cached is not None:
                return cached
        log.warning("%s: the instance refreshing it did not finish; fetching here", self._what)
        return await self._fetch_and_share()

    async def _cached(self, stale: str | None) -> str | None:
        try:
            cached = await self._storage.get(self._key)
        except StorageUnavailable:
            return None
        if not cached or cached == stale:
            return None
        self._memo = (cached, self._clock() + MEMO)
        return cached

    async def _fetch_and_share(self) -> str:
        token, ttl = await self._fetch()
        self._memo = (token, self._clock() + min(MEMO, ttl))
        try:
            await self._storage.set(self._key, token, ttl=max(ttl, 1.0))
        except StorageUnavailable as exc:
            log.warning("%s not shared through storage: %s", self._what, exc)
        return token
