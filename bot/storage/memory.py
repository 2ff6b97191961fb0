"""In-process storage: the embedded default for one instance; everything is lost on restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.storage.base import Doc, Put, Turn

StreamId = tuple[int, int]

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
        raw: list[str] = self._live(f"hist:{conversation}") or []
        return prefs, [json.loads(item) for item in raw]

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

    def _incr(self, key: str, ttl: float) -> int:
        full = f"kv:{key}"
        item = self._values.get(full)
        if self._live(full) is None or item is None:
            self._put(full, 1, ttl)
            return 1
        count = int(item[0]) + 1
        self._values[full] = (count, item[1])
        return count

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """Several increments, each TTL starting at its first (no await in between)."""
        return [self._incr(key, ttl) for key, ttl in counters]





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
                written.append(Doc(put.key, "", None))
                if not put.etag:
                    continue  # absent and left absent: no change, nobody to wake
                self._values.pop(f"doc:{put.key}", None)
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

    async def hincr(self, updates: Sequence[tuple[str, Mapping[str, int]]], ttl: float) -> None:
        """Increment hash fields (no await in between: atomic on the loop)."""
        for key, fields in updates:
            full = f"h:{key}"
            item = self._values.get(full)
            if self._live(full) is None or item is None:
                self._put(full, {}, ttl)
                item = self._values[full]
            values: dict[str, int] = item[0]
            for name, amount in fields.items():
                values[name] = values.get(name, 0) + amount

    async def hread(
        self, reads: Sequence[tuple[str, Sequence[str] | None]]
    ) -> list[dict[str, str]]:
        """Copies of the hashes (or of the named fields)."""
        results = []
        for key, names in reads:
            values: dict[str, int] = self._live(f"h:{key}") or {}
            wanted = values if names is None else {n: values[n] for n in names if n in values}
            results.append({name: str(value) for name, value in wanted.items()})
        return results

    async def stream_add(
        self, key: str, fields: Mapping[str, str], max_len: int, max_age: float | None = None
    ) -> str:
        """Append with a wall-clock id, then drop what is beyond the caps."""
        entries: list[tuple[StreamId, dict[str, str]]] = self._live(f"x:{key}") or []
        now_ms = int(time.time() * 1000)
        last = entries[-1][0] if entries else (0, 0)
        entry_id = (now_ms, 0) if now_ms > last[0] else (last[0], last[1] + 1)
        entries.append((entry_id, dict(fields)))
        if max_age is not None:
            oldest = now_ms - int(max_age * 1000)
            entries = [e for e in entries if e[0][0] >= oldest]
        self._put(f"x:{key}", entries[-max_len:] if max_len > 0 else [], None)
        return f"{entry_id[0]}-{entry_id[1]}"

    async def stream_range(
        self, key: str, start: str = "-", end: str = "+", count: int = 100, reverse: bool = False
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries between two ids, in either order."""
        entries: list[tuple[StreamId, dict[str, str]]] = self._live(f"x:{key}") or []
        low, high = _bound(start, low=True), _bound(end, low=False)
        found = [(f"{i[0]}-{i[1]}", dict(f)) for i, f in entries if low <= i <= high]
        return (found[::-1] if reverse else found)[:max(count, 0)]


def _bound(text: str, low: bool) -> StreamId:
    """A range end as Redis reads it: `-`, `+`, `<ms>`, `<ms>-<seq>`, `(` for exclusive."""
    big = 1 << 62
    if text in ("-", "+"):
        return (0, 0) if text == "-" else (big, big)
    exclusive = text.startswith("(")
    ms, _, seq = text.lstrip("(").partition("-")
    point = (int(ms), int(seq) if seq else (0 if low else big))
    if not exclusive:
        return point
    if low:
        return (point[0], point[1] + 1)
    return (point[0], point[1] - 1) if point[1] > 0 else (point[0] - 1, big)
