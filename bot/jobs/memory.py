"""In-process job queue: the durable-jobs code path for a single instance without Redis."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from typing import Any

from bot.jobs.base import MAX_ATTEMPTS, MAX_DEAD, ConsumerHealth, JobInfo, Runner
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)


class MemoryJobs(Runner):
    """In-process queue: the same code path for a single instance without Redis."""

    kind = "memory"

    def __init__(self, tasks: TaskOwner, concurrency: int = 1024, retry_delay: float = 2.0) -> None:
        super().__init__(tasks, concurrency)
        self._retry_delay = retry_delay
        self._queue: asyncio.Queue[tuple[str, dict[str, Any], int, str]] = asyncio.Queue()
        self._ids = itertools.count(1)
        # what `inspect` shows: id -> (name, state, attempts, since)
        self._known: dict[str, tuple[str, str, int, float]] = {}
        self._dead: deque[tuple[str, str, dict[str, Any], int, float]] = deque(maxlen=MAX_DEAD)

    async def enqueue(self, name: str, payload: dict[str, Any]) -> None:
        """Queue a job."""
        self._put(name, payload, 1, f"m-{next(self._ids)}")

    def _put(self, name: str, payload: dict[str, Any], attempt: int, job_id: str) -> None:
        self._known[job_id] = (name, "pending", attempt - 1, time.time())
        self._queue.put_nowait((name, payload, attempt, job_id))

    async def start(self) -> None:
        """Start the consumer loop."""
        self._loop_task = asyncio.create_task(self._consume(), name="jobs-memory")

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            await self._wait_free()
            name, payload, attempt, job_id = await self._queue.get()
            self._known[job_id] = (name, "running", attempt, time.time())
            self._launch(self._attempt(name, payload, attempt, job_id), name=f"job-{name}")

    async def _attempt(self, name: str, payload: dict[str, Any], attempt: int, job_id: str) -> None:
        if await self._run(name, payload):
            self._known.pop(job_id, None)
        elif attempt < MAX_ATTEMPTS:
            self._known[job_id] = (name, "pending", attempt, time.time())
            await asyncio.sleep(min(self._retry_delay * 2 ** (attempt - 1), 30.0))
            self._put(name, payload, attempt + 1, job_id)
        else:
            log.error("job %s (%s) given up after %d attempts", job_id, name, attempt)
            self._known.pop(job_id, None)
            self._dead.append((job_id, name, payload, attempt, time.time()))

    async def inspect(self, limit: int = 100) -> dict[str, list[JobInfo]]:
        """What is queued, running and given up in this process."""
        now = time.time()
        found: dict[str, list[JobInfo]] = {"pending": [], "running": [], "dead": []}
        for job_id, (name, state, attempts, since) in self._known.items():
            found[state].append(JobInfo(job_id, name, state, attempts, now - since))
        for job_id, name, _, attempts, since in reversed(self._dead):
            found["dead"].append(JobInfo(job_id, name, "dead", attempts, now - since))
        return {state: jobs[:limit] for state, jobs in found.items()}

    async def retry(self, job_id: str) -> bool:
        """Take the dead letter out and queue it with fresh attempts."""
        for entry in self._dead:
            if entry[0] == job_id:
                self._dead.remove(entry)
                self._put(entry[1], entry[2], 1, job_id)
                return True
        return False

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
