"""Redis Stream job queue: XADD, XREADGROUP, XACK, and XAUTOCLAIM for jobs whose worker died."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import BlockingConnectionPool
from redis.driver_info import DriverInfo
from redis.exceptions import RedisError, ResponseError

from bot.errors import StorageUnavailable
from bot.jobs.base import MAX_ATTEMPTS, MAX_DEAD, JobInfo, Runner
from bot.storage.batch import Batch
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

GROUP = "workers"
MAX_LEN = 100_000
POOL = 256  # bounds the stream if consumers fall far behind


class RedisJobs(Runner):
    """Jobs shared by every instance on the same Redis and key prefix."""

    kind = "redis"

    def __init__(self, url: str, prefix: str, tasks: TaskOwner, concurrency: int = 256,
                 claim_idle: float = 60.0, block: float = 1.0) -> None:
        super().__init__(tasks, concurrency)
        options: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 1.0,
                                   "driver_info": DriverInfo()}  # one version lookup, not one each
        # Commands share a pool that waits for a free connection past its size (the default
        # pool raises beyond 100 connections under load); the consumer's blocking XREADGROUP
        # gets a connection of its own with no socket timeout.
        self._redis = aioredis.Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=POOL, timeout=3.0, socket_timeout=3.0, **options))
        self._reader = aioredis.Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=2, timeout=None, socket_timeout=None, **options))
        self._stream, self._tries = f"{prefix}jobs", f"{prefix}jobtries"
        self._dead = f"{prefix}jobs:dead"  # capped: jobs given up after MAX_ATTEMPTS, for retry
        # Enqueues of one loop turn go out as one pipeline (1024 at once exhausted the pool).
        self._adds = Batch(self._redis, self._queue_add)
        self._ends = Batch(self._redis, self._queue_end)
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._claim_idle = claim_idle
        self._block_ms = int(block * 1000)

    async def enqueue(self, name: str, payload: dict[str, Any]) -> None:
        """XADD; StorageUnavailable when Redis cannot take it."""
        fields: dict[Any, Any] = {"name": name, "payload": json.dumps(payload, ensure_ascii=False)}
        try:
            await self._adds(fields)
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"redis enqueue: {type(exc).__name__}") from exc

    def _queue_add(self, pipe: Pipeline, call: tuple[Any, ...]) -> None:
        pipe.xadd(self._stream, call[0], maxlen=MAX_LEN, approximate=True)

    def _queue_end(self, pipe: Pipeline, call: tuple[Any, ...]) -> None:
        pipe.xack(self._stream, GROUP, call[0])
        pipe.xdel(self._stream, call[0])
        pipe.hdel(self._tries, call[0])

    async def start(self) -> None:
        """Start the consumer loop (the group is created on first use)."""
        self._loop_task = asyncio.create_task(self._consume(), name="jobs-redis")

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self) -> None:
        backoff, ready, next_claim = 0.5, False, 0.0
        while not self._stopping.is_set():
            try:
                if not ready:
                    await self._ensure_group()
                    ready = True
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + self._claim_idle / 2
                    await self._reclaim()
                batches: Any = await self._reader.xreadgroup(
                    GROUP, self._consumer, {self._stream: ">"}, count=16, block=self._block_ms)
                for _, entries in batches or ():
                    for entry_id, fields in entries:
                        await self._dispatch(entry_id, fields)
                backoff = 0.5
            except (RedisError, OSError) as exc:
                log.warning("jobs: redis unavailable (%s); retrying in %.1f s",
                            type(exc).__name__, backoff)
                ready = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _reclaim(self) -> None:
        """Take over jobs another worker took but did not finish within `claim_idle`."""
        result: Any = await self._redis.xautoclaim(self._stream, GROUP, self._consumer,
                                              min_idle_time=int(self._claim_idle * 1000),
                                              start_id="0-0", count=16)
        for entry_id, fields in result[1]:
            if fields:  # entries deleted meanwhile come back empty
                log.info("jobs: re-claimed %s from a stalled worker", entry_id)
                await self._dispatch(entry_id, fields)

    async def _dispatch(self, entry_id: str, fields: dict[str, str]) -> None:
        await self._slots.acquire()
        self._launch(self._attempt(entry_id, fields), name=f"job-{entry_id}")

    async def _attempt(self, entry_id: str, fields: dict[str, str]) -> None:
        name = fields.get("name", "")
        try:
            payload = json.loads(fields.get("payload", "{}"))
        except json.JSONDecodeError:
            log.error("job %s has an unreadable payload; dropping it", entry_id)
            payload = None
        beat = asyncio.create_task(self._heartbeat(entry_id), name=f"job-beat-{entry_id}")
        try:
            done = payload is None or await self._run(name, payload)
        finally:
            beat.cancel()
        try:
            if not done:
                tries = await self._redis.hincrby(self._tries, entry_id, 1)
                if tries < MAX_ATTEMPTS:
                    return  # stays pending: re-claimed after claim_idle
                log.error("job %s (%s) given up after %d attempts", entry_id, name, tries)
                dead: dict[Any, Any] = {**fields, "attempts": tries, "job": entry_id}
                await self._redis.xadd(self._dead, dead, maxlen=MAX_DEAD, approximate=False)
            await self._ends(entry_id)
        except (RedisError, OSError) as exc:
            log.warning("jobs: could not record the end of %s: %s", entry_id, type(exc).__name__)

    async def _heartbeat(self, entry_id: str) -> None:
        """Keep a running job's idle time low, so a slow job is not re-claimed while it runs."""
        while not self._stopping.is_set():
            await asyncio.sleep(self._claim_idle / 3)
            if self._stopping.is_set():
                return  # stopping: what is not finished in time goes to another instance
            try:  # XCLAIM to ourselves resets the idle time (JUSTID: not counted as a delivery)
                await self._redis.xclaim(self._stream, GROUP, self._consumer, 0, [entry_id],
                                         justid=True)
            except (RedisError, OSError) as exc:
                log.debug("jobs: heartbeat for %s failed: %s", entry_id, type(exc).__name__)

    async def inspect(self, limit: int = 100) -> dict[str, list[JobInfo]]:
        """Queued entries past the group's last delivery, the group's pending list, dead letters."""
        try:
            groups: Any = await self._redis.xinfo_groups(self._stream)
        except ResponseError:  # no stream yet
            groups = []
        last = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP), None)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xrange(self._stream, min=f"({last}" if last else "-", max="+", count=limit)
            pipe.xrevrange(self._dead, count=limit)
            if last:
                pipe.xpending_range(self._stream, GROUP, min="-", max="+", count=limit)
            queued, dead, *taken = await pipe.execute()
        return {
            "pending": [JobInfo(i, f.get("name", ""), "pending", 0, _age(i)) for i, f in queued],
            "running": await self._taken(taken[0] if taken else []),
            "dead": [JobInfo(i, f.get("name", ""), "dead", int(f.get("attempts", 0)), _age(i))
                     for i, f in dead],
        }

    async def _taken(self, pending: Any) -> list[JobInfo]:
        """The group's pending entries (taken, not acknowledged), with their job names."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in pending:
                pipe.xrange(self._stream, min=item["message_id"], max=item["message_id"])
            entries: Any = await pipe.execute() if pending else []
        return [JobInfo(item["message_id"], found[0][1].get("name", "") if found else "", "running",
                        int(item["times_delivered"]), item["time_since_delivered"] / 1000,
                        item["consumer"])
                for item, found in zip(pending, entries, strict=True)]

    async def retry(self, job_id: str) -> bool:
        """XDEL the dead letter (one caller wins it), then XADD it to the queue again."""
        try:
            found: Any = await self._redis.xrange(self._dead, min=job_id, max=job_id)
        except ResponseError:  # not a stream id
            return False
        if not found or not await self._redis.xdel(self._dead, job_id):
            return False
        fields = found[0][1]
        await self._adds({"name": fields.get("name", ""), "payload": fields.get("payload", "{}")})
        return True

    async def stop(self, seconds: float) -> None:
        """Stop reading; running jobs get `seconds`; unacknowledged ones go to other instances."""
        self._stopping.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
        await self._wait_running(seconds)
        await self._redis.aclose()
        await self._reader.aclose()


def _age(entry_id: str) -> float:
    """Seconds since a stream id's time."""
    return max(0.0, time.time() - int(entry_id.split("-")[0]) / 1000)
