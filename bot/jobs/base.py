"""Durable background jobs: work acknowledged before it is answered survives a crash or a deploy.

Redis: one Stream with a consumer group; any instance may run a job, and one whose worker died is
re-claimed (XAUTOCLAIM) after `claim_idle` seconds. Memory: the same path on an in-process queue
(single instance). Handlers must be idempotent in effect (adapters keep a delivery record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import StorageUnavailable
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
MAX_ATTEMPTS = 5
MAX_DEAD = 1000  # dead letters kept (a capped stream in Redis), newest first in `inspect`


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job as the admin API shows it (never its payload: it may hold a user's text)."""

    id: str
    name: str
    state: str  # pending (queued) | running (taken by a worker) | dead (given up)
    attempts: int
    age_seconds: float  # since it was queued, taken, or given up, by state
    worker: str = ""


class JobQueue(Protocol):
    """Enqueue named jobs; registered handlers run them on some instance."""

    kind: str

    def register(self, name: str, handler: Handler) -> None:
        """Route jobs called `name` to `handler`."""
        ...

    async def enqueue(self, name: str, payload: dict[str, Any]) -> None:
        """Record a job durably (or raise StorageUnavailable)."""
        ...

    async def start(self) -> None:
        """Start consuming."""
        ...

    async def stop(self, seconds: float) -> None:
        """Stop taking jobs; give running ones `seconds`; leave the rest for another instance."""
        ...

    async def inspect(self, limit: int = 100) -> dict[str, list[JobInfo]]:
        """`{"pending", "running", "dead"}`: at most `limit` jobs in each state."""
        ...

    async def retry(self, job_id: str) -> bool:
        """Queue a dead letter again (with fresh attempts); False when there is no such one."""
        ...

    def health(self) -> ConsumerHealth:
        """The consumer loop's state, for /healthz and /readyz."""
        ...


@dataclass(frozen=True, slots=True)
class ConsumerHealth:
    """How the job consumer is doing: `state` and the age of its last successful read."""

    state: str  # starting | reading | retrying (storage unreachable) | stopped
    last_read_age: float | None  # seconds; None before the first read
    running: int  # jobs running on this instance
    stuck: bool  # the loop stopped making progress while storage answers: restart the instance

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape in /healthz."""
        age = None if self.last_read_age is None else round(self.last_read_age, 1)
        return {"state": self.state, "last_read_age": age, "running": self.running,
                "stuck": self.stuck}


class Runner:
    """Shared part: the handler registry and bounded concurrent execution (`free` slots)."""

    def __init__(self, tasks: TaskOwner, concurrency: int) -> None:
        self._handlers: dict[str, Handler] = {}
        self._tasks = tasks
        self._free = concurrency
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()

    def register(self, name: str, handler: Handler) -> None:
        """Route jobs called `name` to `handler`."""
        self._handlers[name] = handler

    async def _wait_free(self) -> None:
        """Until at least one slot is free (entries are only taken for free slots)."""
        while self._free <= 0:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _run(self, name: str, payload: dict[str, Any]) -> bool:
        """True when the job is finished (done, or unknown/failed beyond retrying)."""
        handler = self._handlers.get(name)
        if handler is None:
            log.error("job %r has no handler; dropping it", name)
            return True
        try:
            await handler(payload)
        except asyncio.CancelledError:
            raise
        except StorageUnavailable as exc:  # not the job's fault: no traceback, it runs again
            log.warning("job %r stopped, storage unavailable (%s); it will be retried", name, exc)
            return False
        except Exception:  # the task owner of jobs: a failing job must not stop the worker
            log.exception("job %r failed", name)
            return False
        return True

    def _launch(self, coro: Awaitable[None], name: str) -> None:
        """Run a job in a slot (the caller made sure one is free)."""
        self._free -= 1
        task = self._tasks.spawn(self._guarded(coro), name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _guarded(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        finally:
            self._free += 1
            self._slot_freed.set()

    async def _wait_running(self, seconds: float) -> None:
        if self._running:
            await asyncio.wait(set(self._running), timeout=seconds)
