"""This instance's share of the records: the answers being made here and the leases it holds.

A cache in front of the records, never a substitute: a delivery held on the instance making its
answer is woken in memory when the answer is stored, and takes it through the record like any
other delivery (the first one held here has it taken for it in the maker's own swap: `Taker`);
and every lease held here is renewed (fenced) while its work runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from adapters.wechat.parse import Inbound
from bot.storage import Doc


@dataclass(slots=True)
class Taker:
    """The first delivery held on the maker's instance: the maker's swap that stores the answer
    takes it for this delivery too (one swap instead of two), while it can still write it."""

    last: bool  # the delivery is WeChat's last attempt (for `written` if it cannot write)
    until: float  # loop time past which it would not write the answer any more
    gone: bool = False  # it stopped waiting: the maker must not take for it (or gives it back)


@dataclass(slots=True)
class Run:
    """Work on one MsgId under a lease held here: making the answer, or delivering it late."""

    msg: Inbound
    token: str
    made: asyncio.Future[Doc | None]  # the record once the answer is stored; None if not
    known: Doc | None = None  # the record as the lease was won (the maker's first swap needs no read)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    taker: Taker | None = None  # the delivery the maker's swap may take the answer for
    # Set when the maker's swap took the answer for `taker`: then `taker`'s `written`, as stored.
    written: asyncio.Future[Doc | None] | None = None


class Local:
    """The runs of this instance, by MsgId key."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self.idle = asyncio.Event()  # set while no run is held here (the lease keeper stops)
        self.idle.set()

    def open(self, msg: Inbound, token: str) -> Run:
        """Register a run (before its task starts, so early deliveries find it)."""
        run = Run(msg, token, asyncio.get_running_loop().create_future())
        self._runs[msg.key] = run
        self.idle.clear()
        return run

    def get(self, key: str) -> Run | None:
        """The run of `key` here, if any."""
        return self._runs.get(key)

    def runs(self) -> list[Run]:
        """Every run whose lease this instance holds."""
        return list(self._runs.values())

    @staticmethod
    def resolve(run: Run, made: Doc | None) -> None:
        """The answer is stored (`made`) or will not be (None): wake whoever waits for it."""
        if not run.made.done():
            run.made.set_result(made)

    @staticmethod
    def wrote(run: Run, doc: Doc | None) -> None:
        """The taker's `written` swap left the record as `doc` (None: unknown, storage says)."""
        if run.written is not None and not run.written.done():
            run.written.set_result(doc)

    def close(self, run: Run, made: Doc | None = None) -> None:
        """The run ended; anyone still waiting for its answer learns the outcome."""
        self.resolve(run, made)
        if self._runs.get(run.msg.key) is run:
            del self._runs[run.msg.key]
            if not self._runs:
                self.idle.set()

    @staticmethod
    async def wait(run: Run, seconds: float) -> Doc | None:
        """The record with the answer, once stored here; None after `seconds` or without one."""
        await asyncio.wait((run.made,), timeout=max(0.0, seconds))
        return run.made.result() if run.made.done() else None
