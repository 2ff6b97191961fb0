"""Idempotency claims on a fake clock: a crash blocks a key only until its short lease lapses."""

from __future__ import annotations

import asyncio

from adapters.webhook.idempotency import CONFLICT, LEASE, Idempotency, Stored
from bot.storage import MemoryStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


CRASHED: list[object] = []  # held, so the abandoned claim is never finalised (released)


async def crashed_claim(idem: Idempotency) -> None:
    """A request that claimed the key, then its instance died (no finish, no abandon)."""
    manager = idem.claimed("scope", "k")
    CRASHED.append(manager)
    token = await manager.__aenter__()
    assert isinstance(token, str)
    # the renewal task dies with the instance
    for task in asyncio.all_tasks():
        if task.get_coro().__qualname__.startswith("Idempotency._renew"):  # type: ignore[union-attr]
            task.cancel()


async def test_a_repeat_while_the_first_request_runs_is_a_conflict() -> None:
    clock = Clock()
    idem = Idempotency(MemoryStorage(), wait_seconds=0.1, clock=clock)
    await crashed_claim(idem)
    async with idem.claimed("scope", "k") as claim:
        assert claim == CONFLICT


async def test_a_claim_left_by_a_crash_is_taken_over_once_its_lease_lapses() -> None:
    clock = Clock()
    idem = Idempotency(MemoryStorage(), wait_seconds=0.1, clock=clock)
    await crashed_claim(idem)
    clock.now += LEASE + 1
    async with idem.claimed("scope", "k") as claim:
        assert isinstance(claim, str)


async def test_a_finished_answer_is_replayed() -> None:
    idem = Idempotency(MemoryStorage(), wait_seconds=0.1, clock=Clock())
    async with idem.claimed("scope", "k") as claim:
        assert isinstance(claim, str)
        await idem.finish("scope", "k", claim, Stored(200, {"reply": "hi"}))
    async with idem.claimed("scope", "k") as again:
        assert again == Stored(200, {"reply": "hi"})


async def test_a_failed_request_releases_its_key() -> None:
    idem = Idempotency(MemoryStorage(), wait_seconds=0.1, clock=Clock())
    try:
        async with idem.claimed("scope", "k"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with idem.claimed("scope", "k") as claim:
        assert isinstance(claim, str)


async def test_a_stale_owner_cannot_finish_a_key_taken_over() -> None:
    clock = Clock()
    storage = MemoryStorage()
    idem = Idempotency(storage, wait_seconds=0.1, clock=clock)
    await crashed_claim(idem)
    clock.now += LEASE + 1
    async with idem.claimed("scope", "k") as claim:
        assert isinstance(claim, str)
        await idem.finish("scope", "k", "stale-token", Stored(200, {"reply": "stale"}))
        await idem.finish("scope", "k", claim, Stored(200, {"reply": "fresh"}))
    async with idem.claimed("scope", "k") as again:
        assert again == Stored(200, {"reply": "fresh"})
