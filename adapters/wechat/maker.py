"""Making answers: the one LLM call per message, under a lease renewed (fenced) while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from adapters.wechat.ledger import Handed, Ledger
from adapters.wechat.local import Local, Run
from adapters.wechat.outbox import Outbox
from adapters.wechat.parse import Inbound
from adapters.wechat.produce import Answer
from bot.errors import StorageUnavailable
from bot.storage import Doc
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

Produce = Callable[[Inbound], Coroutine[Any, Any, Answer | None]]
Compose = Callable[[Answer | None, Handed], tuple[str, ...]]

_INSTANCE = os.urandom(4).hex()


def new_token() -> str:
    """A lease owner's token: unique per claim, and says which instance holds it (for logs)."""
    return f"{_INSTANCE}-{os.urandom(6).hex()}"


class Maker:
    """Starts and runs the making of answers here, and keeps every lease held here alive."""

    def __init__(self, ledger: Ledger, local: Local, outbox: Outbox, tasks: TaskOwner,
                 produce: Produce, compose: Compose) -> None:
        self._ledger = ledger
        self._local = local
        self._outbox = outbox
        self._tasks = tasks
        self._produce = produce
        self._compose = compose
        self._keeper: asyncio.Task[None] | None = None

    def start(self, msg: Inbound, token: str, known: Doc | None = None) -> Run:
        """Make `msg`'s answer in the background under `token`'s lease (just won; `known`: the
        record as it was won)."""
        run = self._local.open(msg, token)
        run.known = known
        run.task = self._tasks.spawn(self._make(run), name="wechat-answer")
        self.keep_alive()
        return run

    def keep_alive(self) -> None:
        """Make sure the lease keeper runs while this instance holds leases."""
        if self._keeper is None or self._keeper.done():
            self._keeper = self._tasks.spawn(self._keep_leases(), name="wechat-leases")

    async def _make(self, run: Run) -> None:
        msg, token = run.msg, run.token
        made = None
        try:
            answer = await self._produce(msg)
            taker = run.taker
            take = (taker is not None and not taker.gone
                    and asyncio.get_running_loop().time() < taker.until)
            rec, made = await self._ledger.made(msg, token, lambda h: self._compose(answer, h),
                                                run.known, take=take)
            if rec is None:
                log.warning("wechat: this instance lost the lease while making an answer; "
                            "the instance that took over answers instead")
                return
            if take and rec.state == "made":
                run.written = asyncio.get_running_loop().create_future()
            self._local.resolve(run, made)  # deliveries held here take it now (or have it)
            if run.written is not None and taker is not None and taker.gone:  # left during the swap
                await self.give_back(run, taker.last, made)
            if rec.state == "late":  # the last delivery already said "still thinking"
                await self._outbox.deliver_late(msg, rec, token)
        finally:
            self._local.close(run, made)

    async def give_back(self, run: Run, last: bool, made: Doc | None) -> None:
        """A take made for a delivery that stopped waiting: it wrote nothing (`written`, not ok)."""
        after = None
        try:
            after = (await self._ledger.written(run.msg, False, last, made))[1]
        except StorageUnavailable as exc:  # the take lapses by itself after `write_grace`
            log.warning("wechat: could not give back an answer taken for a delivery: %s", exc)
        finally:
            self._local.wrote(run, after)

    async def _keep_leases(self) -> None:
        """Renew every lease held here a few times per lease; a lost one stops its work."""
        while self._local.runs():
            with contextlib.suppress(TimeoutError):  # idle: nothing left to renew, stop now
                await asyncio.wait_for(self._local.idle.wait(), self._ledger.timing.lease / 4)
            runs = self._local.runs()
            # All at once: the renewals of one loop turn go out as one pipeline.
            results = await asyncio.gather(*(self._ledger.renew(run.msg, run.token) for run in runs),
                                           return_exceptions=True)
            for run, alive in zip(runs, results, strict=True):
                if isinstance(alive, StorageUnavailable):
                    log.warning("wechat: could not renew a lease: %s", alive)
                elif isinstance(alive, BaseException):
                    raise alive
                elif not alive and run.task is not None:
                    log.warning("wechat: a lease held here was taken over; stopping its work")
                    run.task.cancel()
