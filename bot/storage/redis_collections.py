"""Redis sets, hashes and capped streams: the shared collections behind the term list, the
knowledge index, usage counters and the audit trail. Mixed into `RedisStorage`, whose client,
key prefix and batched reads they use; every operation is atomic (one command, script or MULTI)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import RedisError

from bot.errors import StorageUnavailable
from bot.storage.batch import Batch
from bot.storage.connect import Client, Gate

# ARGV: the TTL in ms, then per key its field count and (field, amount) pairs.
HINCR = (
    "local i = 2 "
    "for k = 1, #KEYS do "
    "local n = tonumber(ARGV[i]) i = i + 1 "
    "for _ = 1, n do redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1]) i = i + 2 end "
    "redis.call('PEXPIRE', KEYS[k], ARGV[1], 'NX') "
    "end return 1"
)


@asynccontextmanager
async def guard(op: str) -> AsyncIterator[None]:
    """Redis and connection errors become `StorageUnavailable`, naming the operation."""
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise StorageUnavailable(f"redis {op}: {type(exc).__name__}: {exc}") from exc


class RedisCollections:
    """The set, hash and stream operations of `RedisStorage`, and what every operation shares:
    the key layout and `_op` (bounded like the pool, errors as `StorageUnavailable`)."""

    _redis: Client
    _prefix: str
    _gets: Batch
    _hincrs: Batch  # the HINCR script, calls of one loop turn in one pipeline
    _gate: Gate

    @asynccontextmanager
    async def _op(self, op: str) -> AsyncIterator[None]:
        """Bounded like the pool (a cluster's fails instead of waiting), errors as ours."""
        async with self._gate, guard(op):
            yield

    def _k(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    def _set_keys(self, key: str) -> tuple[str, str]:
        """Members and version share a hash tag, so their MULTI stays on one Cluster slot."""
        members = f"{self._prefix}set:{{{key}}}"
        return members, f"{members}:version"

    async def set_update(self, key: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> int:
        """SREM + SADD + INCR of the version in one MULTI."""
        members, version = self._set_keys(key)
        async with self._op("set_update"), self._redis.pipeline(transaction=True) as pipe:
            if remove:
                pipe.srem(members, *remove)
            if add:
                pipe.sadd(members, *add)
            pipe.incr(version)
            results = await pipe.execute()
        return int(results[-1])

    async def set_read(self, key: str) -> tuple[int, list[str]]:
        """GET of the version + SMEMBERS in one MULTI (a consistent snapshot)."""
        members, version = self._set_keys(key)
        async with self._op("set_read"), self._redis.pipeline(transaction=True) as pipe:
            pipe.get(version)
            pipe.smembers(members)
            number, found = await pipe.execute()
        return int(number or 0), sorted(found)

    async def set_version(self, key: str) -> int:
        """GET of the version (pipelined with the other reads of this loop turn)."""
        async with self._op("set_version"):
            number = await self._gets(self._set_keys(key)[1])
        return int(number or 0)

    async def hash_all(self, key: str) -> dict[str, str]:
        """HGETALL."""
        async with self._op("hash_all"):
            values = await self._redis.hgetall(self._k("hash", key))
        return {str(name): str(value) for name, value in values.items()}  # decoded replies

    async def hash_get(self, reads: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | None]]:
        """One HMGET per hash, in one MULTI."""
        async with self._op("hash_get"), self._redis.pipeline(transaction=True) as pipe:
            for key, fields in reads:
                pipe.hmget(self._k("hash", key), list(fields) or [""])
            results = await pipe.execute()
        return [list(values)[:len(fields)] for values, (_, fields) in zip(results, reads, strict=True)]

    async def hash_update(
        self, writes: Sequence[tuple[str, Mapping[str, str | None]]], counter: str
    ) -> int:
        """HSET + HDEL per hash and INCR of the counter, in one MULTI."""
        async with self._op("hash_update"), self._redis.pipeline(transaction=True) as pipe:
            for key, fields in writes:
                sets = [part for name, value in fields.items() if value is not None
                        for part in (name, value)]
                gone = [name for name, value in fields.items() if value is None]
                if sets:
                    pipe.hset(self._k("hash", key), items=sets)
                if gone:
                    pipe.hdel(self._k("hash", key), *gone)
            pipe.incr(self._k("kv", counter))
            results = await pipe.execute()
        return int(results[-1])

    async def hincr(self, updates: Sequence[tuple[str, Mapping[str, int]]], ttl: float) -> None:
        """HINCRBY per field + PEXPIRE NX per hash in one script (atomic; the keys share a hash
        tag), pipelined with the other messages' of this loop turn: one round trip under load,
        where a MULTI each was a fifth of a WeChat message's CPU (docs/benchmarks.md)."""
        args: list[Any] = [max(1, int(ttl * 1000))]
        for _, fields in updates:
            args.append(len(fields))
            for name, amount in fields.items():
                args += [name, amount]
        async with self._op("hincr"):
            await self._hincrs([self._k("h", key) for key, _ in updates], args)

    async def hread(
        self, reads: Sequence[tuple[str, Sequence[str] | None]]
    ) -> list[dict[str, str]]:
        """HGETALL or HMGET per hash, pipelined without MULTI (the keys may be on any slot)."""
        async with self._op("hread"), self._redis.pipeline(transaction=False) as pipe:
            for key, names in reads:
                if names is None:
                    pipe.hgetall(self._k("h", key))
                else:
                    pipe.hmget(self._k("h", key), list(names) or [""])
            replies = await pipe.execute()
        results: list[dict[str, str]] = []
        for (_, names), reply in zip(reads, replies, strict=True):
            if names is None:
                results.append(dict(reply))
            else:
                results.append({n: v for n, v in zip(names, reply, strict=False) if v is not None})
        return results

    async def stream_add(
        self, key: str, fields: Mapping[str, str], max_len: int, max_age: float | None = None
    ) -> str:
        """XADD MAXLEN (exact) and XTRIM MINID for the age cap, in one MULTI."""
        full = self._k("x", key)
        async with self._op("stream_add"), self._redis.pipeline(transaction=True) as pipe:
            values: dict[Any, Any] = dict(fields)
            pipe.xadd(full, values, maxlen=max(max_len, 0), approximate=False)
            if max_age is not None:
                oldest = int((time.time() - max_age) * 1000)
                pipe.xtrim(full, minid=str(max(oldest, 0)), approximate=False)
            replies = await pipe.execute()
        return str(replies[0])

    async def stream_range(
        self, key: str, start: str = "-", end: str = "+", count: int = 100, reverse: bool = False
    ) -> list[tuple[str, dict[str, str]]]:
        """XRANGE, or XREVRANGE newest first."""
        full = self._k("x", key)
        async with self._op("stream_range"):
            entries: Any = await (
                self._redis.xrevrange(full, max=end, min=start, count=count) if reverse
                else self._redis.xrange(full, min=start, max=end, count=count))
        return [(str(entry_id), dict(fields or {})) for entry_id, fields in entries or ()]
