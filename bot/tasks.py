"""The owner of every background task: keeps strong references and drains them on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskOwner:
    """Spawn fire-and-forget work without losing it to the garbage collector or to shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run `coro` in the background; its failure is logged, never lost silently."""
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task %s failed: %s", task.get_name(), exc, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closing(self) -> bool:
        """True once a drain has begun; new work should be refused or left for another instance."""
        return self._closing

    async def drain(self, seconds: float) -> int:
        """Wait up to `seconds` for running tasks, then cancel the rest; returns how many were cut."""
        self._closing = True
        pending = set(self._tasks)
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=seconds)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=1.0)
            log.warning("shutdown: cancelled %d unfinished background task(s)", len(still))
        return len(still)
