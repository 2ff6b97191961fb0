"""The durable job of every message: it ends only when nothing is left to deliver.

Recorded when a message's answer starts being made, it runs on whichever instance reads it (and
again after a crash, on another one). It follows `record.plan`: waits while a live lease holder
works or a delivery may still take the answer, takes the making over once a maker's lease lapsed
(that instance died), and makes the late delivery or sends the rest of a long answer when due.
Every step is a fenced transition, so two runs of the job at once do no harm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Literal

from adapters.wechat.ledger import Ledger
from adapters.wechat.local import Local, Run
from adapters.wechat.maker import Maker, new_token
from adapters.wechat.outbox import Outbox
from adapters.wechat.parse import Inbound
from adapters.wechat.record import Record, plan
from bot.errors import StorageUnavailable
from bot.jobs import JobQueue
from bot.storage import Doc
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

JOB = "wechat.answer"
MAX_STEPS = 1000  # bounded: each step waits up to a lease or acts once
WAKE_MARGIN = 0.05  # seconds past a deadline before re-planning (clock granularity)
STORAGE_POLL = 0.5  # seconds between tries while storage is unreachable


class Settler:
    """Runs the `wechat.answer` job."""

    def __init__(self, ledger: Ledger, local: Local, maker: Maker, outbox: Outbox,
                 tasks: TaskOwner, jobs: JobQueue | None, job: str = JOB) -> None:
        self._ledger = ledger
        self._local = local
        self._maker = maker
        self._outbox = outbox
        self._tasks = tasks
        self._jobs = jobs
        self._job = job  # one job name per account: its handler holds that account's parts
        if jobs is not None:
            jobs.register(job, self.run)

    async def record(self, msg: Inbound) -> None:
        """Record the job durably; if storage cannot take it, settle in this process instead."""
        if self._jobs is not None:
            try:
                await self._jobs.enqueue(self._job, dataclasses.asdict(msg))
                return
            except StorageUnavailable as exc:
                log.warning("wechat: the answer's job could not be recorded (%s); settling it "
                            "in this process", exc)
        self._tasks.spawn(self.settle(msg), name="wechat-settle")

    async def run(self, payload: dict[str, Any]) -> None:
        """The job handler."""
        await self.settle(Inbound(**payload))

    async def settle(self, msg: Inbound) -> None:
        """Follow the record until nothing is left to deliver."""
        seen: tuple[Record | None, Doc] | None = None  # the record as the last wait read it
        wrote: asyncio.Future[Doc | None] | None = None  # the written swap of a take made here
        for _ in range(MAX_STEPS):
            run = self._local.get(msg.key)
            if run is not None and run.task is not None:
                await asyncio.shield(run.task)  # made here: no need to watch storage meanwhile
                seen, wrote = _stored(run), run.written
            rec, doc = seen if seen is not None else await self._ledger.read(msg)
            seen = None
            now = self._ledger.clock()
            step = plan(rec, now)
            if step.kind == "done":
                return
            if step.kind == "wait":
                wait = min(step.until - now, self._ledger.timing.lease) + WAKE_MARGIN
                if wrote is not None:  # a delivery here writes it: its swap says what is next
                    seen, wrote = await _written_here(wrote, wait), None
                    continue  # on None (not told in time), planned again on storage
                try:  # what the wait read on waking (or timing out) is the record now
                    seen = await self._ledger.wait_change(msg, doc, wait)
                except StorageUnavailable:  # the read above retries; the job need not fail
                    await asyncio.sleep(min(wait, STORAGE_POLL))
                continue
            await self._act(msg, step.kind)
        log.error("wechat: gave up settling a message after %d steps", MAX_STEPS)

    async def _act(self, msg: Inbound, kind: Literal["take_over", "deliver_late", "send_rest"]) -> None:
        """Claim the lease for the planned step and do it; nothing when someone acted first
        (the caller plans again on what is there now)."""
        token = new_token()
        claimed = await self._ledger.claim(msg, token, kind)
        if claimed is None:
            return
        if kind == "take_over":
            log.info("wechat: taking over an answer whose maker stopped renewing its lease")
            started = self._maker.start(msg, token)
            assert started.task is not None
            await asyncio.shield(started.task)
            return
        held = self._local.open(msg, token)
        self._maker.keep_alive()
        try:
            if kind == "deliver_late":
                await self._outbox.deliver_late(msg, claimed, token)
            else:
                await self._outbox.send_rest(msg, claimed, token)
        finally:
            self._local.close(held)


def _stored(run: Run) -> tuple[Record | None, Doc] | None:
    """The record as the run here stored it, if it did. Possibly stale by now (a delivery may
    have taken the answer since): a wait on it returns at once, and every step is a fenced swap
    that starts from storage, so planning on it costs a round trip at worst, never a wrong act."""
    made = run.made.result() if run.made.done() else None
    if made is None or made.value is None:
        return None
    return Record.from_json(made.value), made


async def _written_here(wrote: asyncio.Future[Doc | None],
                        seconds: float) -> tuple[Record | None, Doc] | None:
    """The record as the `written` swap of the delivery here left it (what storage answered,
    as `_stored`), or None when it was not told within `seconds` or the swap failed."""
    await asyncio.wait((wrote,), timeout=seconds)
    doc = wrote.result() if wrote.done() else None
    if doc is None:
        return None
    return (None if doc.value is None else Record.from_json(doc.value)), doc
