"""In-process storage: the embedded default for one instance; everything is lost on restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.storage.base import Doc, Put, Turn

_SWEEP_EVERY = 1024  # writes between sweeps of expired keys, so idle keys cannot pile up


class MemoryStorage:
    """Dict-backed storage with the same semantics as Redis, for a single process."""

    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[Any, float | None]] = {}
        self._watchers: dict[str, set[asyncio.Future[None]]] = {}
        self._writes = 0

    def _live(self, key: str) -> Any:
        item = self._values.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._values[key]
            return None
        return value

    def _put(self, key: str, value: Any, ttl: float | None) -> None:
        self._values[key] = (value, None if ttl is None else self._clock() + ttl)
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            now = self._clock()
            for k in [k for k, (_, exp) in self._values.items() if exp is not None and exp <= now]:
                del self._values[k]

    async def history(self, conversation: str) -> list[Turn]:
        """The stored turns, oldest first."""
        raw: list[str] = self._live(f"hist:{conversation}") or []
        return [json.loads(item) for item in raw]

    async def append_history(
        self, conversation: str, turns: Sequence[Turn], max_items: int, ttl: float
    ) -> None:
        """Append, cap and refresh the TTL in one step (no await in between)."""
        key = f"hist:{conversation}"
        raw: list[str] = list(self._live(key) or [])
        raw.extend(json.dumps(turn, ensure_ascii=False) for turn in turns)
        kept = raw[-max_items:] if max_items > 0 else []
        self._put(key, kept, ttl)

    async def clear_history(self, conversation: str) -> None:
        """Forget a conversation."""
        self._values.pop(f"hist:{conversation}", None)

    async def conversation(self, conversation: str) -> tuple[dict[str, str], list[Turn]]:
        """Preferences and history."""
        prefs: dict[str, str] = dict(self._live(f"prefs:{conversation}") or {})
        return prefs, await self.history(conversation)

    async def set_pref(self, conversation: str, name: str, value: str, ttl: float) -> None:
        """Set one preference."""
        key = f"prefs:{conversation}"
        self._put(key, {**(self._live(key) or {}), name: value}, ttl)

    async def get(self, key: str) -> str | None:
        """A value, or None."""
        value = self._live(f"kv:{key}")
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store a value."""
        self._put(f"kv:{key}", value, ttl)

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """Set if absent."""
        if self._live(f"kv:{key}") is not None:
            return False
        self._put(f"kv:{key}", value, ttl)
        return True

    async def delete(self, key: str) -> None:
        """Remove a value."""
        self._values.pop(f"kv:{key}", None)

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter whose TTL starts at the first increment."""
        full = f"kv:{key}"
        item = self._values.get(full)
        if self._live(full) is None or item is None:
            self._put(full, 1, ttl)
            return 1
        count = int(item[0]) + 1
        self._values[full] = (count, item[1])
        return count

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """Several increments."""
        return [await self.incr(key, ttl) for key, ttl in counters]





    def _doc(self, key: str) -> Doc:
        item = self._live(f"doc:{key}")
        return Doc(key, "", None) if item is None else Doc(key, item[0], item[1])

    async def read_docs(self, keys: Sequence[str]) -> list[Doc]:
        """The documents, absent ones with etag ""."""
        return [self._doc(key) for key in keys]

    async def swap_docs(self, puts: Sequence[Put], etags: Sequence[str]) -> tuple[bool, list[Doc]]:
        """Compare-and-swap, all or nothing (no await in between: atomic on the loop)."""
        current = [self._doc(put.key) for put in puts]
        if any(doc.etag != put.etag for doc, put in zip(current, puts, strict=True)):
            return False, current
        written = []
        for put, etag in zip(puts, etags, strict=True):
            if put.value is None:
                self._values.pop(f"doc:{put.key}", None)
                written.append(Doc(put.key, "", None))
            else:
                self._put(f"doc:{put.key}", (etag, put.value), put.ttl)
                written.append(Doc(put.key, etag, put.value))
            for waiter in self._watchers.pop(put.key, ()):
                if not waiter.done():
                    waiter.set_result(None)
        return True, written

    async def wait_change(self, key: str, etag: str, seconds: float) -> Doc:
        """The document once its etag is not `etag` any more, or after `seconds`."""
        doc = self._doc(key)
        if doc.etag != etag or seconds <= 0:
            return doc
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.setdefault(key, set()).add(waiter)
        try:
            await asyncio.wait((waiter,), timeout=seconds)
        finally:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.discard(waiter)
                if not watchers:
                    del self._watchers[key]
        return self._doc(key)

    async def start(self) -> None:
        """Nothing runs in the background."""

    @property
    def feed_connected(self) -> bool:
        """One process: every write wakes its waiters directly."""
        return True

    async def set_update(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> int:
        """Change the set and its version (no await in between: atomic on the loop)."""
        version, members = self._live(f"set:{key}") or (0, frozenset())
        changed = (members - frozenset(remove)) | frozenset(add)
        self._put(f"set:{key}", (version + 1, changed), None)
        return int(version) + 1

    async def set_read(self, key: str) -> tuple[int, list[str]]:
        """The version and the sorted members."""
        version, members = self._live(f"set:{key}") or (0, frozenset())
        return int(version), sorted(members)

    async def set_version(self, key: str) -> int:
        """The version."""
        return int((self._live(f"set:{key}") or (0, frozenset()))[0])

    async def ping(self) -> None:
        """Memory is always there."""

    async def close(self) -> None:
        """Nothing to release."""
