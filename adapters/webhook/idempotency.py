"""Idempotency keys: a repeated key gets the first answer back, with no second LLM call."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.errors import BadRequest, StorageUnavailable
from bot.storage import Storage

HEADER = "Idempotency-Key"
TTL = 24 * 3600.0
_VALID = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True, slots=True)
class Stored:
    """A finished answer: its HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


def read_key(value: str | None) -> str | None:
    """The header's key, validated (printable ASCII, at most 128 characters)."""
    if value is None:
        return None
    if not _VALID.match(value):
        raise BadRequest(f"{HEADER} must be 1-128 printable ASCII characters")
    return value


class Idempotency:
    """Claims a key before the work and stores the answer after it."""

    def __init__(self, storage: Storage, wait_seconds: float) -> None:
        self._storage = storage
        self._wait = wait_seconds

    async def begin(self, scope: str, key: str) -> Stored | None:
        """None when this request owns the key; else the first request's answer (waiting for it)."""
        name = f"idem:{scope}:{key}"
        try:
            if await self._storage.claim(name, TTL, value="pending"):
                return None
            await self._storage.wait(name, self._wait)
            raw = await self._storage.get(name)
        except StorageUnavailable:
            return None  # without storage, serving twice beats serving never
        if raw is None or raw == "pending":
            return Stored(409, {"error": {"message": "a request with this Idempotency-Key is still "
                                          "in progress", "type": "Conflict"}})
        data = json.loads(raw)
        return Stored(int(data["status"]), data["body"])

    async def abandon(self, scope: str, key: str) -> None:
        """Release the key after a failure, so a retry of the request can run."""
        try:
            await self._storage.delete(f"idem:{scope}:{key}")
        except StorageUnavailable:
            return

    async def finish(self, scope: str, key: str, answer: Stored) -> None:
        """Keep the answer for repeats and wake anyone waiting for it."""
        name = f"idem:{scope}:{key}"
        payload = json.dumps({"status": answer.status, "body": answer.body}, ensure_ascii=False)
        try:
            await self._storage.set(name, payload, TTL)
            await self._storage.notify(name, TTL)
        except StorageUnavailable:
            return
