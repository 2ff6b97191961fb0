"""The storage contract every backend satisfies (checked by tests/test_storage_contract.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, TypedDict


class Turn(TypedDict):
    """One message of a conversation as the LLM sees it."""

    role: Literal["user", "assistant"]
    content: str


class Storage(Protocol):
    """Shared state: history, claims for dedup and in-flight work, short-lived values, counters.

    Every operation is atomic on the backend; backends raise `StorageUnavailable` when they
    cannot be reached, and never anything else for that reason.
    """

    kind: str

    async def history(self, conversation: str) -> list[Turn]:
        """The stored turns, oldest first."""
        ...

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

    async def incr(self, key: str, ttl: float) -> int:
        """Increment a counter; the TTL starts with the first increment."""
        ...

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """Several `incr`s (key, ttl) in one round trip; the counts in the same order."""
        ...

    async def incr_claim(self, counter: str, counter_ttl: float, key: str,
                         ttl: float) -> tuple[int, bool]:
        """`incr(counter, counter_ttl)` and `claim(key, ttl)` in one atomic round trip."""
        ...

    async def set_notify(self, key: str, value: str, ttl: float, signal: str) -> None:
        """`set(key, value, ttl)` and `notify(signal, ttl)` in one atomic round trip."""
        ...

    async def notify(self, key: str, ttl: float) -> None:
        """Raise a sticky signal that `wait` callers (on any instance) see."""
        ...

    async def wait(self, key: str, seconds: float) -> bool:
        """Block until the signal is raised (True) or `seconds` pass (False)."""
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

