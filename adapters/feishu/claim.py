"""A message's claim across Feishu's redeliveries and instances, made durable in two steps.

Claiming and recording the job cannot be one write (the job is a stream entry), so the claim is
first `claimed` with a short lease, and `queued` (for as long as Feishu redelivers) once the job
is recorded. An instance that dies between the two leaves a claim that lapses within `LEASE`,
before Feishu's first redelivery (15 s later), which then takes it over: never lost, never twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Literal

from bot.storage import Doc, Storage
from bot.storage.docs import update

DEDUP_TTL = 8 * 3600.0  # Feishu redelivers for ~7.1 h (15 s, 5 min, 1 h, 6 h)
LEASE = 10.0  # a claim not followed by its job within this long belonged to an instance that died

Outcome = Literal["mine", "duplicate", "busy"]


def claim(doc: Doc, now: float, token: str) -> tuple[list[str | None] | None, Outcome]:
    """Take the message unless it is queued (a duplicate), or claimed by a live instance right
    now (busy: that one may still die before recording the job, so this delivery must not be
    acknowledged as if the message were safe)."""
    state = None if doc.value is None else json.loads(doc.value)
    if state is not None and state["state"] == "queued":
        return None, "duplicate"
    if state is not None and state["until"] > now:
        return None, "busy"
    return [json.dumps({"state": "claimed", "owner": token, "until": now + LEASE})], "mine"


def queued(doc: Doc, token: str) -> tuple[list[str | None] | None, bool]:
    """The job is recorded: the claim now lasts as long as Feishu may redeliver."""
    state = None if doc.value is None else json.loads(doc.value)
    if state is None or state.get("owner") != token:
        return None, False
    return [json.dumps({"state": "queued", "owner": token})], True


class Claims:
    """`take` before recording the job, `confirm` after."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time,
                 scoped: Callable[[str], str] = str) -> None:
        self._storage = storage
        self._clock = clock
        self._scoped = scoped  # one claim per app: a group message may reach two of our bots

    def _key(self, message_id: str) -> str:
        return f"feishu:{{{self._scoped(message_id)}}}:claim"

    async def take(self, message_id: str) -> tuple[Outcome, str]:
        """The outcome, and this delivery's token when it owns the message now."""
        token = os.urandom(8).hex()

        def change(docs: Sequence[Doc]) -> tuple[list[str | None] | None, Outcome]:
            return claim(docs[0], self._clock(), token)

        outcome, _ = await update(self._storage, [self._key(message_id)], change, [DEDUP_TTL])
        return outcome, token

    async def confirm(self, message_id: str, token: str) -> bool:
        """Keep the claim for the whole redelivery window; False when it lapsed and was taken."""
        def change(docs: Sequence[Doc]) -> tuple[list[str | None] | None, bool]:
            return queued(docs[0], token)

        done, _ = await update(self._storage, [self._key(message_id)], change, [DEDUP_TTL])
        return done
