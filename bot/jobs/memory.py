"""In-process job queue: the durable-jobs code path for a single instance without Redis."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.jobs.base import MAX_ATTEMPTS, ConsumerHealth, Runner
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)


class MemoryJobs(Runner):
    """In-process queue: the same code path for a single instance without Redis."""

    kind = "memory"

    def __init__(self, tasks: TaskOwner, concurrency: int = 1024, retry_delay: float = 2.0) -> None:
        super().__init__(tasks, concurrency)
        self._retry_delay = retry_delay
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], int]] = asyncio.Queue()

    async def enqueue(self, name: str, payload: dict[str, Any]) -> None:
        """Queue a job."""
        self._queue.put_nowait((name, payload, 1))

    async def start(self) -> None:
        """Start the consumer loop."""
        self._loop_task = asyncio.create_task(self._consume(), name="jobs-memory")

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            await self._wait_free()
            name, payload, attempt = await self._queue.get()
            self._launch(self._attempt(name, payload, attempt), name=f"job-{name}")

    async def _attempt(self, name: str, payload: dict[str, Any], attempt: int) -> None:
        if not await self._run(name, payload) and attempt < MAX_ATTEMPTS:
            await asyncio.sleep(min(self._retry_delay * 2 ** (attempt - 1), 30.0))
            self._queue.put_nowait((name, payload, attempt + 1))

    def health(self) -> ConsumerHealth:
        """In-process: the loop runs while the process does."""
        running = self._loop_task is not None and not self._loop_task.done()
        return ConsumerHealth("reading" if running else "stopped", None, len(self._running), False)

    async def stop(self, seconds: float) -> None:
        """Stop consuming and wait for running jobs."""
        self._stopping.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
        await self._wait_running(seconds)
        if not self._queue.empty():
            log.warning("shutdown: %d queued job(s) lost (memory store)", self._queue.qsize())
