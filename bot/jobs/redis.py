"""Redis Stream job queue: XADD, XREADGROUP, XACK, and XAUTOCLAIM for jobs whose worker died.

- Entries are read (and re-claimed) only for free slots, so every entry taken starts at once and
  gets its heartbeat from the start: none waits unseen while its idle time grows.
- XAUTOCLAIM follows its cursor across rounds until it has been through every pending entry.
- The heartbeat and the acknowledgement are scripts that act only while the entry is still
  ours: after a stall, a worker whose entry was re-claimed elsewhere cannot reset it or ack it.
- The reader's blocking connection has a socket timeout past the block time and TCP keepalive:
  a connection dropped silently (NAT, failover) times out and is replaced instead of hanging.
  Entries Redis handed to the lost connection are already ours (pending), so after a reconnect
  the worker first reads its own pending entries again instead of waiting for a re-claim.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any, cast

import orjson
from redis.exceptions import RedisError, ResponseError

from bot.errors import StorageUnavailable
from bot.jobs.base import MAX_ATTEMPTS, MAX_DEAD, ConsumerHealth, JobInfo, Runner
from bot.storage.batch import Batch
from bot.storage.connect import Pipe, close, connect, gate_for, parse
from bot.storage.replicas import Replicas
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

GROUP = "workers"
MAX_LEN = 100_000  # bounds the stream if consumers fall far behind
POOL = 16  # connections for commands (enqueues, heartbeats and acks are pipelined)
READ_MARGIN = 5.0  # the reader's socket timeout is the block time plus this

# KEYS[1] stream; ARGV: group, consumer, entry id. Acts only while the entry is ours.
_STILL_OURS = "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) "
_BEAT = _STILL_OURS + ("if #p == 0 then return 0 end "
                       "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID') "
                       "return 1")
# KEYS[2] the attempts hash.
_END = _STILL_OURS + ("if #p == 0 then return 0 end "
                      "redis.call('XACK', KEYS[1], ARGV[1], ARGV[3]) "
                      "redis.call('XDEL', KEYS[1], ARGV[3]) "
                      "redis.call('HDEL', KEYS[2], ARGV[3]) return 1")

# KEYS[1] dead letters, KEYS[2] stream; ARGV: dead letter id, stream cap. A move, all at once.
_REVIVE = """
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[1])
local f, name, payload = e[1][2], '', '{}'
for i = 1, #f, 2 do
  if f[i] == 'name' then name = f[i + 1] elseif f[i] == 'payload' then payload = f[i + 1] end
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'name', name, 'payload', payload)
return 1
"""


class RedisJobs(Runner):
    """Jobs shared by every instance on the same Redis and key prefix."""

    kind = "redis"

    def __init__(self, url: str, prefix: str, tasks: TaskOwner, concurrency: int = 1024,
                 claim_idle: float = 60.0, block: float = 1.0, max_connections: int = POOL,
                 name: str = "", replicas: Replicas | None = None) -> None:
        super().__init__(tasks, concurrency)
        target = parse(url)
        # Commands share a bounded pool that waits for a free connection past its size.
        self._redis = connect(target, max_connections=max_connections, socket_timeout=3.0,
                              name=name, keepalive=True)
        # No silent retry for the reader: after a lost connection it must re-read its own
        # pending entries (the lost reply may have carried some), so it has to see the error.
        self._reader = connect(target, max_connections=1, socket_timeout=block + READ_MARGIN,
                               wait_timeout=None, name=name, keepalive=True, retries=0)
        # One hash tag for the stream, its attempts hash and its dead letters (scripts on a cluster).
        self._stream, self._tries = f"{prefix}{{jobs}}:stream", f"{prefix}{{jobs}}:tries"
        self._dead = f"{prefix}{{jobs}}:dead"  # capped: jobs given up after MAX_ATTEMPTS, for retry
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        beat, end = self._redis.register_script(_BEAT), self._redis.register_script(_END)
        self._revive = self._redis.register_script(_REVIVE)
        # Enqueues, heartbeats and acks of one loop turn go out as one pipeline each (scripts one
        # by one on a cluster, at most `max_connections` at a time).
        self._gate = gate_for(self._redis, max_connections)
        # An enqueue waits for `replicas` to have it: a job lost in a failover is a message lost.
        self._adds = Batch(self._redis, self._queue_add, gate=self._gate, replicas=replicas)
        self._beats = Batch(self._redis, script=True, gate=self._gate, bounded=True,
                            add=lambda pipe, call: beat(
            keys=[self._stream], args=[GROUP, self._consumer, call[0]], client=cast(Any, pipe)))
        self._ends = Batch(self._redis, script=True, gate=self._gate, bounded=True,
                           add=lambda pipe, call: end(
            keys=[self._stream, self._tries], args=[GROUP, self._consumer, call[0]],
            client=cast(Any, pipe)))
        self._claim_idle = claim_idle
        self._block = block
        self._claim_cursor = "0-0"
        self._state = "starting"
        self._last_read: float | None = None
        self._own_pending = True  # read our own pending entries first (after a start or an error)
        self._running_ids: set[str] = set()  # entry ids running here

    async def enqueue(self, name: str, payload: dict[str, Any]) -> None:
        """XADD; StorageUnavailable when Redis cannot take it."""
        fields: dict[Any, Any] = {"name": name, "payload": orjson.dumps(payload).decode()}
        try:
            await self._adds(fields)
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"redis enqueue: {type(exc).__name__}") from exc

    def _queue_add(self, pipe: Pipe, call: tuple[Any, ...]) -> None:
        pipe.xadd(self._stream, call[0], maxlen=MAX_LEN, approximate=True)

    async def start(self) -> None:
        """Start the consumer loop (the group is created on first use)."""
        self._loop_task = asyncio.create_task(self._consume(), name="jobs-redis")

    def health(self) -> ConsumerHealth:
        """Stuck: reading, yet no read finished for longer than a read can take."""
        age = None if self._last_read is None else time.monotonic() - self._last_read
        limit = self._block + READ_MARGIN + 10.0
        stuck = self._state == "reading" and age is not None and age > limit
        return ConsumerHealth(self._state, age, len(self._running), stuck)

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
                await self._wait_free()
                if not ready:
                    await self._ensure_group()
                    ready = True
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + self._claim_idle / 2
                    await self._reclaim()
                if self._own_pending:
                    await self._read_own_pending()
                await self._read()
                backoff = 0.5
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("jobs: redis unavailable (%s); retrying in %.1f s",
                            type(exc).__name__, backoff)
                self._state, ready, self._own_pending = "retrying", False, True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        self._state = "stopped"

    async def _read(self) -> None:
        """New entries, as many as there are free slots."""
        if self._free <= 0:
            return
        batches: Any = await self._reader.xreadgroup(
            GROUP, self._consumer, {self._stream: ">"}, count=self._free,
            block=int(self._block * 1000))
        self._state, self._last_read = "reading", time.monotonic()
        for _, entries in batches or ():
            for entry_id, fields in entries:
                self._dispatch(entry_id, fields)

    async def _read_own_pending(self) -> None:
        """Entries delivered to this worker but never seen (their reply was lost with a dropped
        connection): id "0" makes XREADGROUP return them again."""
        after = "0"
        while self._free > 0:
            batches: Any = await self._reader.xreadgroup(
                GROUP, self._consumer, {self._stream: after}, count=self._free)
            self._state, self._last_read = "reading", time.monotonic()
            entries = [e for _, found in batches or () for e in found]
            if not entries:
                break
            for entry_id, fields in entries:
                if fields and entry_id not in self._running_ids:
                    self._dispatch(entry_id, fields)
            after = entries[-1][0]
        self._own_pending = False

    async def _reclaim(self) -> None:
        """Take over entries another worker took and left idle for `claim_idle`: the cursor is
        followed round after round until every pending entry was looked at."""
        while self._free > 0:
            result: Any = await self._redis.xautoclaim(
                self._stream, GROUP, self._consumer, min_idle_time=int(self._claim_idle * 1000),
                start_id=self._claim_cursor, count=self._free)
            self._claim_cursor = str(result[0])
            for entry_id, fields in result[1]:
                if fields:  # entries deleted meanwhile come back empty
                    log.info("jobs: re-claimed %s from a stalled worker", entry_id)
                    self._dispatch(entry_id, fields)
            if self._claim_cursor == "0-0":
                return  # a full pass: start again from the beginning next time

    def _dispatch(self, entry_id: str, fields: dict[str, str]) -> None:
        self._running_ids.add(entry_id)
        self._launch(self._attempt(entry_id, fields), name=f"job-{fields.get('name', '')}")

    async def _attempt(self, entry_id: str, fields: dict[str, str]) -> None:
        name = fields.get("name", "")
        try:
            payload = orjson.loads(fields.get("payload", "{}"))
        except orjson.JSONDecodeError:
            log.error("job %s has an unreadable payload; dropping it", entry_id)
            payload = None
        beat = asyncio.create_task(self._heartbeat(entry_id), name=f"job-beat-{entry_id}")
        try:
            done = payload is None or await self._run(name, payload)
        finally:
            beat.cancel()
            self._running_ids.discard(entry_id)
        try:
            if not done:
                tries = await self._redis.hincrby(self._tries, entry_id, 1)
                if tries < MAX_ATTEMPTS:
                    return  # stays pending: re-claimed after claim_idle
                log.error("job %s (%s) given up after %d attempts", entry_id, name, tries)
                dead: dict[Any, Any] = {**fields, "attempts": tries, "job": entry_id}
                await self._redis.xadd(self._dead, dead, maxlen=MAX_DEAD, approximate=False)
            if not await self._ends(entry_id):
                log.info("jobs: %s was re-claimed by another worker; it acknowledges it", entry_id)
        except (RedisError, OSError) as exc:
            log.warning("jobs: could not record the end of %s: %s", entry_id, type(exc).__name__)

    async def _heartbeat(self, entry_id: str) -> None:
        """Keep a running job's idle time low, so a slow job is not re-claimed while it runs."""
        while not self._stopping.is_set():
            await asyncio.sleep(self._claim_idle / 3)
            if self._stopping.is_set():
                return  # stopping: what is not finished in time goes to another instance
            try:
                if not await self._beats(entry_id):
                    log.warning("jobs: %s was re-claimed by another worker after a stall",
                                entry_id)
                    return
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
        """Move the dead letter back into the queue in one script (one caller wins it)."""
        try:
            return bool(await self._revive(keys=[self._dead, self._stream], args=[job_id, MAX_LEN]))
        except ResponseError:  # not a stream id
            return False

    async def stop(self, seconds: float) -> None:
        """Stop reading; running jobs get `seconds`; unacknowledged ones go to other instances."""
        self._stopping.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
        await self._wait_running(seconds)
        self._state = "stopped"
        await close(self._redis)
        await close(self._reader)


def _age(entry_id: str) -> float:
    """Seconds since a stream id's time."""
    return max(0.0, time.time() - int(entry_id.split("-")[0]) / 1000)
