"""Auto-pipelining: calls made in the same event-loop turn reach Redis as one pipeline.

Under load hundreds of messages issue the same command at once; one round trip and one pooled
connection for all of them, instead of one each (which also opened a connection storm), is what
keeps 1024 messages in flight from waiting seconds for the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from bot.storage.connect import Client, Gate, Pipe
from bot.storage.replicas import Confirmation, Replicas

Add = Callable[[Pipe, tuple[Any, ...]], Awaitable[Any] | None]
"""Queues one call's command(s) on the pipeline (a script call returns an awaitable); the call's
reply is its command's, or the list of them when it queued several."""


class Batch:
    """`await batch(*args)`: the reply to the command `add` queues for `args`, pipelined.

    `script=True` marks an `add` that calls one Lua script: redis-py's cluster pipeline refuses
    EVALSHA, so on a cluster such calls go out one by one instead, at most `gate` at a time when
    `bounded` (leave it False when the caller already holds the gate). With `replicas`, the
    pipeline ends with one `WAIT`, and every call fails with StorageUnavailable unless it was met.
    Once a pipeline of script calls ran, later ones skip redis-py's SCRIPT EXISTS check (a round
    trip per pipeline: 6 per WeChat message at 1 in flight); a NOSCRIPT answer (a restarted or
    failed-over server) means that call did not run, so it is queued again, with the check.
    """

    def __init__(self, redis: Client, add: Add, script: bool = False, gate: Gate | None = None,
                 bounded: bool = False, replicas: Replicas | None = None) -> None:
        self._redis = redis
        self._add = add
        self._direct = script and isinstance(redis, RedisCluster)
        self._script = script
        self._loaded = False  # the script is known to be on the server
        self._gate = gate or Gate(None, redis)
        self._bounded = bounded
        self._confirm = (Confirmation(redis, replicas) if replicas is not None and replicas.acks > 0
                         else None)
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, *args: Any) -> Any:
        """Queue the call; the reply once the pipeline ran (its error raised here)."""
        if self._direct:
            if not self._bounded:
                await self._gate.ready()
                return await self._add(self._redis, args)  # type: ignore[arg-type, misc]
            async with self._gate:
                return await self._add(self._redis, args)  # type: ignore[arg-type, misc]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((args, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the callers of this loop turn join the batch
        batch, self._pending, self._flusher = self._pending, [], None
        try:
            await self._gate.ready()
            async with self._redis.pipeline(transaction=False) as pipe:
                bounds = []
                for args, _ in batch:
                    start = len(pipe)
                    queued = self._add(pipe, args)
                    if queued is not None:
                        await queued
                    bounds.append((start, len(pipe)))
                skipped = self._script and self._loaded
                if skipped:
                    cast(Pipeline, pipe).scripts.clear()
                wrote_to = None
                if self._confirm is not None:
                    wanted = self._confirm.replicas
                    pipe.execute_command("WAIT", wanted.acks, max(1, int(wanted.timeout * 1000)))
                    # The connection taken here (and released by the pipeline) says which node
                    # the writes go to; a reconnect during execute can only make it look older.
                    pool = cast(Redis, self._redis).connection_pool  # never a cluster here
                    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
                    cast(Pipeline, pipe).connection = conn
                    wrote_to = (str(conn.host), int(conn.port))
                replies = await pipe.execute(raise_on_error=False)
            if self._confirm is not None:
                await self._confirm.check(replies[-1], wrote_to)
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # the callers' catch point: each gets the error
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._settle(batch, bounds, replies, skipped)

    def _settle(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]],
                bounds: list[tuple[int, int]], replies: list[Any], skipped: bool) -> None:
        """Each call's reply or error; a call the server did not know the script for is re-queued."""
        self._loaded = self._script
        for (args, future), (start, end) in zip(batch, bounds, strict=True):
            results = replies[start:end]
            error = next((r for r in results if isinstance(r, Exception)), None)
            if future.done():
                continue
            if skipped and isinstance(error, NoScriptError):
                self._loaded = False  # not run: again, this time loading the script first
                self._pending.append((args, future))
                self._schedule()
            elif error is not None:
                future.set_exception(error)
            else:
                future.set_result(results[0] if end - start == 1 else results)

