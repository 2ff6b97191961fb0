"""In-process hand-off between the job that makes an answer and the deliveries held on the same
instance: the answer and its "settled" signal travel in memory, Redis is used only when another
instance could need them (a retry held elsewhere, a job re-run after a crash)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(slots=True)
class Run:
    """One MsgId whose answer is being made on this instance."""

    answer: asyncio.Future[list[str]]
    waiting: int = 0  # deliveries of this MsgId held here right now
    settled: asyncio.Future[bool] | None = None  # set while the job waits for a local delivery
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Local:
    """The runs of this instance, by MsgId key."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}

    def open(self, key: str) -> Run:
        """Register the run of `key` (before its job starts, so early deliveries find it)."""
        run = Run(asyncio.get_running_loop().create_future())
        self._runs[key] = run
        return run

    def get(self, key: str) -> Run | None:
        """The run of `key` on this instance, if any."""
        return self._runs.get(key)

    def running(self) -> list[str]:
        """The MsgId keys whose answers are being made (or handed over) here."""
        return list(self._runs)

    def close(self, key: str, run: Run) -> None:
        """Forget a finished run; later deliveries go through storage."""
        if self._runs.get(key) is run:
            del self._runs[key]

    async def wait(self, run: Run, seconds: float) -> list[str] | None:
        """The answer, once made; None after `seconds`."""
        if not run.answer.done():
            run.waiting += 1
            try:
                await asyncio.wait((run.answer,), timeout=seconds)
            finally:
                run.waiting -= 1
        if run.answer.done() and not run.answer.cancelled() and run.answer.exception() is None:
            return run.answer.result()
        return None

    def settle(self, key: str, received: bool) -> bool:
        """Tell a job waiting in memory how its answer went; False when none waits here."""
        run = self._runs.get(key)
        if run is None or run.settled is None or run.settled.done():
            return False
        run.settled.set_result(received)
        return True
