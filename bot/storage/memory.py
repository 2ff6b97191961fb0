"""In-process storage: the embedded default for one instance; everything is lost on restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.storage.base import Turn

_SWEEP_EVERY = 1024  # writes between sweeps of expired keys, so idle keys cannot pile up


class MemoryStorage:
    """Dict-backed storage with the same semantics as Redis, for a single process."""

    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[Any, float | None]] = {}
        self._events: dict[str, tuple[asyncio.Event, int]] = {}
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

    async def incr_claim(self, counter: str, counter_ttl: float, key: str,
                         ttl: float) -> tuple[int, bool]:
        """An increment and a claim (no await in between: atomic on the loop)."""
        return await self.incr(counter, counter_ttl), await self.claim(key, ttl)

    async def set_notify(self, key: str, value: str, ttl: float, signal: str) -> None:
        """A value and a signal."""
        await self.set(key, value, ttl)
        await self.notify(signal, ttl)

    async def notify(self, key: str, ttl: float) -> None:
        """Raise a sticky signal."""
        self._put(f"sig:{key}", "1", ttl)
        entry = self._events.pop(key, None)
        if entry is not None:
            entry[0].set()

    async def wait(self, key: str, seconds: float) -> bool:
        """Wait for the signal."""
        if self._live(f"sig:{key}") is not None:
            return True
        event, waiters = self._events.get(key) or (asyncio.Event(), 0)
        self._events[key] = (event, waiters + 1)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return self._live(f"sig:{key}") is not None
        finally:
            current = self._events.get(key)
            if current is not None and current[0] is event:
                remaining = current[1] - 1
                # the last waiter to leave takes the event with it, so nothing accumulates
                if remaining:
                    self._events[key] = (event, remaining)
                else:
                    del self._events[key]
        return True

    async def hash_all(self, key: str) -> dict[str, str]:
        """Every field of a hash."""
        return dict(self._live(f"hash:{key}") or {})

    async def hash_get(self, reads: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | None]]:
        """Fields of several hashes (no await in between: atomic on the loop)."""
        result: list[list[str | None]] = []
        for key, fields in reads:
            values: dict[str, str] = self._live(f"hash:{key}") or {}
            result.append([values.get(name) for name in fields])
        return result

    async def hash_update(
        self, writes: Sequence[tuple[str, Mapping[str, str | None]]], counter: str
    ) -> int:
        """Set and delete fields, then count (no await in between: atomic on the loop)."""
        for key, fields in writes:
            values: dict[str, str] = dict(self._live(f"hash:{key}") or {})
            for name, value in fields.items():
                if value is None:
                    values.pop(name, None)
                else:
                    values[name] = value
            self._put(f"hash:{key}", values, None)
        count = int(self._live(f"kv:{counter}") or 0) + 1
        self._put(f"kv:{counter}", count, None)
        return count

    async def ping(self) -> None:
        """Memory is always there."""

    async def close(self) -> None:
        """Nothing to release."""
