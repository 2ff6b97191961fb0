"""Idempotency keys: a repeated key gets the first answer back, with no second LLM call.

One document per (credential, key), with two states:
- `pending` (owner token, lease): a request is answering it; the lease is short and renewed
  while it runs, so a crash blocks the key only until the lease lapses, then a repeat takes over;
- `done` (status, body): the answer, replayed to repeats for 24 h.
A repeat arriving while it is pending waits for the answer (woken by the change feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.errors import BadRequest, StorageUnavailable
from bot.storage import Doc, Storage
from bot.storage.docs import update

HEADER = "Idempotency-Key"
TTL = 24 * 3600.0
LEASE = 30.0  # a pending claim not renewed for this long belonged to a request that died
_VALID = re.compile(r"^[\x21-\x7e]{1,128}$")


@dataclass(frozen=True, slots=True)
class Stored:
    """A finished answer: its HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


CONFLICT = Stored(409, {"error": {"message": f"a request with this {HEADER} is still in progress",
                                  "type": "Conflict"}})


def read_key(value: str | None) -> str | None:
    """The header's key, validated (printable ASCII, at most 128 characters)."""
    if value is None:
        return None
    if not _VALID.match(value):
        raise BadRequest(f"{HEADER} must be 1-128 printable ASCII characters")
    return value


def _state(doc: Doc) -> dict[str, Any] | None:
    return None if doc.value is None else dict(json.loads(doc.value))


Claim = Literal["run", "wait", "replay"]


def claim(state: dict[str, Any] | None, now: float, token: str) -> tuple[dict[str, Any] | None, Claim]:
    """Begin a request: the first (or the first after a lapsed lease) runs it."""
    if state is not None and state["state"] == "done":
        return None, "replay"
    if state is not None and state["until"] > now:
        return None, "wait"
    return {"state": "pending", "owner": token, "until": now + LEASE}, "run"


class Idempotency:
    """Claims a key before the work, keeps the claim alive during it, stores the answer after it."""

    def __init__(self, storage: Storage, wait_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._storage = storage
        self._wait = wait_seconds
        self._clock = clock

    @staticmethod
    def _key(scope: str, key: str) -> str:
        return f"idem:{scope}:{key}"

    async def _swap(self, key: str, change: Callable[[dict[str, Any] | None],
                                                      tuple[dict[str, Any] | None, Any]],
                    ttl: float) -> tuple[Any, Doc]:
        """Apply `change` (new state, or None to write nothing) atomically."""
        def docs_change(docs: Sequence[Doc]) -> tuple[list[str | None] | None, Any]:
            new, result = change(_state(docs[0]))
            return (None if new is None else [json.dumps(new, ensure_ascii=False)]), result

        result, docs = await update(self._storage, [key], docs_change, [ttl])
        return result, docs[0]

    @contextlib.asynccontextmanager
    async def claimed(self, scope: str, key: str,
                      fail_open: bool = False) -> AsyncIterator[Stored | str]:
        """Yields the first answer to replay (or a 409), or this request's owner token: then the
        claim is renewed while the body runs, and released if it fails without `finish`.

        Without storage the key cannot be honoured: StorageUnavailable (the client or the job
        queue tries again later), or, with `fail_open`, the body runs unclaimed (work that has
        nowhere else to go: a job kept in memory because storage was down)."""
        token = os.urandom(8).hex()
        try:
            earlier = await self._begin(self._key(scope, key), token)
        except StorageUnavailable:
            if not fail_open:
                raise
            earlier = None
        if earlier is not None:
            yield earlier
            return
        renewing = asyncio.get_running_loop().create_task(self._renew(scope, key, token))
        try:
            yield token
        except BaseException:
            await self.abandon(scope, key, token)
            raise
        finally:
            renewing.cancel()

    async def _begin(self, key: str, token: str) -> Stored | None:
        """None when this request runs; else the first answer, waiting (bounded) for it."""
        end = asyncio.get_running_loop().time() + self._wait
        while True:
            outcome, doc = await self._swap(key, lambda s: claim(s, self._clock(), token), LEASE * 3)
            if outcome == "run":
                return None
            state = _state(doc)
            if outcome == "replay" and state is not None:
                return Stored(int(state["status"]), state["body"])
            remaining = end - asyncio.get_running_loop().time()
            if remaining <= 0:
                return CONFLICT
            until = state["until"] - self._clock() if state else 0.0
            await self._storage.wait_change(key, doc.etag, min(remaining, max(until, 0.0) + 0.05))

    async def _renew(self, scope: str, key: str, token: str) -> None:
        def renew(state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
            if state is None or state.get("owner") != token:
                return None, None
            return {**state, "until": self._clock() + LEASE}, None

        while True:
            await asyncio.sleep(LEASE / 3)
            with contextlib.suppress(StorageUnavailable):
                await self._swap(self._key(scope, key), renew, LEASE * 3)

    async def abandon(self, scope: str, key: str, token: str) -> None:
        """Release the key after a failure (if still ours), so a retry of the request can run."""
        def release(docs: Sequence[Doc]) -> tuple[list[str | None] | None, None]:
            state = _state(docs[0])
            return ([None] if state is not None and state.get("owner") == token else None), None

        with contextlib.suppress(StorageUnavailable):
            await update(self._storage, [self._key(scope, key)], release, [TTL])

    async def finish(self, scope: str, key: str, token: str, answer: Stored) -> None:
        """Keep the answer for repeats (only while this request still owns the key)."""
        def done(state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
            if state is None or state.get("owner") != token:
                return None, None
            return {"state": "done", "status": answer.status, "body": answer.body}, None

        with contextlib.suppress(StorageUnavailable):
            await self._swap(self._key(scope, key), done, TTL)
