"""The storage contract every backend satisfies (checked by tests/test_storage_contract.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict


class Turn(TypedDict):
    """One message of a conversation as the LLM sees it."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Doc:
    """A versioned document: `etag` changes on every write ("" while the document is absent)."""

    key: str
    etag: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Put:
    """One write of a `swap`: allowed only while `key` still has `etag` ("" = still absent)."""

    key: str
    etag: str
    value: str | None  # None deletes the document
    ttl: float | None = None


class Storage(Protocol):
    """Shared state: history, claims for dedup and in-flight work, short-lived values, counters.

    Every operation is atomic on the backend; backends raise `StorageUnavailable` when they
    cannot be reached, and never anything else for that reason.
    """

    kind: str

    async def append_history(
        self, conversation: str, turns: Sequence[Turn], max_items: int, ttl: float
    ) -> None:
        """Append turns, keep only the newest `max_items`, refresh the idle TTL (seconds)."""
        ...

    async def clear_history(self, conversation: str) -> None:
        """Forget a conversation."""
        ...

    async def conversation(self, conversation: str) -> tuple[dict[str, str], list[Turn]]:
        """The conversation's preferences (preset, model…) and its history, in one round trip."""
        ...

    async def set_pref(self, conversation: str, name: str, value: str, ttl: float) -> None:
        """Set one preference of a conversation (atomic per field), refreshing its TTL."""
        ...

    async def get(self, key: str) -> str | None:
        """A value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store a value, expiring after `ttl` seconds when given."""
        ...

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """Set only if absent; True for the single caller that won."""
        ...

    async def delete(self, key: str) -> None:
        """Remove a value (no error when absent)."""
        ...

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """Increment counters (key, ttl) in one atomic round trip, each TTL starting with its
        first increment; the counts in the same order. The keys share a Redis Cluster hash tag."""
        ...





    async def read_docs(self, keys: Sequence[str]) -> list[Doc]:
        """The documents at `keys`, in order (absent ones with etag "")."""
        ...

    async def swap_docs(self, puts: Sequence[Put], etags: Sequence[str]) -> tuple[bool, list[Doc]]:
        """Compare-and-swap several documents at once, all or nothing.

        Writes every `put` (the new etag of each is the matching `etags` item) only if each key
        still has its expected etag, then wakes `wait_change` callers on every instance. Returns
        (True, the written docs) or (False, the current docs, nothing changed). Keys of one swap
        share a Redis Cluster hash tag (`{...}`).
        """
        ...

    async def wait_change(self, key: str, etag: str, seconds: float) -> Doc:
        """The document once its etag differs from `etag`, or as it is after `seconds`."""
        ...

    async def start(self) -> None:
        """Begin the background parts (the change feed); waiting also starts them on demand."""
        ...

    @property
    def feed_connected(self) -> bool:
        """Whether writes of other instances wake this instance's waiters right now."""
        ...

    async def set_update(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> int:
        """Remove, then add members of a shared set and bump its version, in one atomic step
        (a member in both lists ends up in the set); the new version. The set never expires."""
        ...

    async def set_read(self, key: str) -> tuple[int, list[str]]:
        """The set's version (0 while it was never changed) and its members, sorted, read
        together, so they always belong to each other."""
        ...

    async def set_version(self, key: str) -> int:
        """The set's version alone: one small read, cheap enough to poll every few seconds."""
        ...

    async def hash_all(self, key: str) -> dict[str, str]:
        """Every field of a hash (kept without expiry); empty when it does not exist."""
        ...

    async def hash_get(self, reads: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | None]]:
        """Fields of several hashes, read in one atomic round trip; None for a missing field.

        Name the keys with one `{tag}` (e.g. `{kb}:files`) so they share a Redis Cluster slot.
        """
        ...

    async def hash_update(
        self, writes: Sequence[tuple[str, Mapping[str, str | None]]], counter: str
    ) -> int:
        """Set fields of several hashes (None deletes the field) and increment the counter `counter`
        (read with `get`, never expiring), all atomically; returns the counter's new value."""
        ...

    async def ping(self) -> None:
        """Raise `StorageUnavailable` unless the backend answers."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    # Hashes and capped streams, for usage counters and the audit trail. Every key of one
    # `hincr` call must share a `{hash tag}` so its script stays on one Redis Cluster slot.

    async def hincr(self, updates: Sequence[tuple[str, Mapping[str, int]]], ttl: float) -> None:
        """Increment fields of several hashes in one atomic round trip; each hash expires
        `ttl` seconds after its first increment."""
        ...

    async def hread(
        self, reads: Sequence[tuple[str, Sequence[str] | None]]
    ) -> list[dict[str, str]]:
        """Several hashes in one round trip: every field (None), or only the named fields that
        exist; a missing hash reads as {}."""
        ...

    async def stream_add(
        self, key: str, fields: Mapping[str, str], max_len: int, max_age: float | None = None
    ) -> str:
        """Append an entry to a capped stream and return its id (`<ms>-<seq>`); entries beyond
        the newest `max_len`, or older than `max_age` seconds, are dropped."""
        ...

    async def stream_range(
        self, key: str, start: str = "-", end: str = "+", count: int = 100, reverse: bool = False
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries with ids from `start` to `end` (inclusive; `-`/`+` are the ends, a bare `<ms>`
        is allowed), oldest first or newest first with `reverse`, at most `count`."""
        ...
