"""A Feishu message's claim on a fake clock: a delivery that died before recording its job is
taken over by Feishu's redelivery, and a copy arriving meanwhile is not acknowledged."""

from __future__ import annotations

from adapters.feishu.claim import LEASE, Claims
from bot.storage import MemoryStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_the_first_delivery_owns_the_message() -> None:
    outcome, token = await Claims(MemoryStorage(), Clock()).take("om_1")
    assert (outcome, bool(token)) == ("mine", True)


async def test_a_copy_while_the_first_is_being_recorded_is_busy_not_acknowledged() -> None:
    claims = Claims(MemoryStorage(), Clock())
    await claims.take("om_1")
    assert (await claims.take("om_1"))[0] == "busy"


async def test_a_redelivery_after_the_job_was_recorded_is_a_duplicate() -> None:
    clock = Clock()
    claims = Claims(MemoryStorage(), clock)
    _, token = await claims.take("om_1")
    assert await claims.confirm("om_1", token)
    clock.now += 3600
    assert (await claims.take("om_1"))[0] == "duplicate"


async def test_a_claim_whose_instance_died_is_taken_by_the_redelivery() -> None:
    clock = Clock()
    claims = Claims(MemoryStorage(), clock)
    _, dead = await claims.take("om_1")
    clock.now += LEASE + 1  # Feishu's first redelivery comes 15 s later
    outcome, token = await claims.take("om_1")
    assert outcome == "mine"
    assert not await claims.confirm("om_1", dead)  # the dead one can no longer confirm it
    assert await claims.confirm("om_1", token)
