"""Redis storage on `redis.asyncio`: every operation is atomic (one command, script or MULTI)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import RedisError

from bot.errors import StorageUnavailable
from bot.storage.base import Turn
from bot.storage.batch import Batch

# Short socket timeouts: when Redis is gone a message must still be answered quickly,
# without history, rather than hang on storage.
_CONNECT_TIMEOUT = 1.0
_SOCKET_TIMEOUT = 3.0
_POOL = 2048  # connections for ordinary commands (each is busy for a loop turn or two)
_WAITERS = 4096  # concurrent `wait` calls (one connection each; Redis allows 10,000 clients)


@asynccontextmanager
async def _guard(op: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise StorageUnavailable(f"redis {op}: {type(exc).__name__}: {exc}") from exc


def _queue_get(pipe: Pipeline, call: tuple[Any, ...]) -> None:
    pipe.get(call[0])


def _queue_conversation(pipe: Pipeline, call: tuple[Any, ...]) -> None:
    pipe.hgetall(call[0])
    pipe.lrange(call[1], 0, -1)


class RedisStorage:
    """Storage shared by every instance that points at the same Redis and key prefix."""

    kind = "redis"

    def __init__(self, url: str, prefix: str = "imbot:") -> None:
        options: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": _CONNECT_TIMEOUT,
            "retry": Retry(NoBackoff(), 1),  # one quick reconnect, then report unavailable
            # resolved once: by default every new connection looks up redis-py's version
            # through importlib.metadata (13% of the CPU while 1024 connections opened)
            "driver_info": DriverInfo(),
        }
        # Blocking pools: past their size a command waits for a free connection instead of
        # failing (redis-py's default pool raises MaxConnectionsError beyond 100 connections).
        self._redis = aioredis.Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=_POOL, timeout=_SOCKET_TIMEOUT, socket_timeout=_SOCKET_TIMEOUT,
            **options))
        # Blocking reads (BLPOP) outlive the normal socket timeout and hold a connection each
        # while they wait, so they get their own, larger pool.
        self._blocking = aioredis.Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=_WAITERS, timeout=None, socket_timeout=None, **options))
        self._prefix = prefix
        # Put the token back for the next waiter, expiring with the flag (atomic, server-side).
        self._pass_on = self._redis.register_script(
            "local ttl = redis.call('PTTL', KEYS[1]) "
            "if ttl > 0 then redis.call('LPUSH', KEYS[2], '1') "
            "redis.call('PEXPIRE', KEYS[2], ttl) end return ttl"
        )

        self._incr_claim = self._redis.register_script(
            "local n = redis.call('INCR', KEYS[1]) "
            "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
            "local won = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) "
            "return {n, won and 1 or 0}"
        )

        self._append = self._redis.register_script(
            "if #ARGV > 2 then redis.call('RPUSH', KEYS[1], unpack(ARGV, 3)) end "
            "if tonumber(ARGV[1]) > 0 then redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1) "
            "redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end "
            "return 1"
        )
        # Calls of one loop turn share a pipeline: one round trip and one connection under load.
        self._appends = Batch(self._redis, lambda pipe, call: self._append(
            keys=call[0], args=call[1], client=pipe))
        self._reads = Batch(self._redis, _queue_conversation)
        self._gets = Batch(self._redis, _queue_get)
        self._claims = Batch(self._redis, lambda pipe, call: self._incr_claim(
            keys=call[0], args=call[1], client=pipe))

    def _k(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    async def history(self, conversation: str) -> list[Turn]:
        """The stored turns, oldest first."""
        async with _guard("history"):
            raw = await self._redis.lrange(self._k("hist", conversation), 0, -1)
        return [json.loads(item) for item in raw]

    async def append_history(
        self, conversation: str, turns: Sequence[Turn], max_items: int, ttl: float
    ) -> None:
        """RPUSH + LTRIM + PEXPIRE in one script (atomic, no read-modify-write), pipelined."""
        items = [json.dumps(t, ensure_ascii=False) for t in turns]
        async with _guard("append_history"):
            await self._appends([self._k("hist", conversation)],
                                [max_items, int(ttl * 1000), *items])

    async def clear_history(self, conversation: str) -> None:
        """Forget a conversation."""
        async with _guard("clear_history"):
            await self._redis.delete(self._k("hist", conversation))

    async def conversation(self, conversation: str) -> tuple[dict[str, str], list[Turn]]:
        """HGETALL + LRANGE, pipelined with the other calls of this loop turn."""
        async with _guard("conversation"):
            prefs, raw = await self._reads(self._k("prefs", conversation),
                                           self._k("hist", conversation))
        return dict(prefs), [json.loads(item) for item in raw]

    async def set_pref(self, conversation: str, name: str, value: str, ttl: float) -> None:
        """HSET one field + PEXPIRE in one MULTI."""
        key = self._k("prefs", conversation)
        async with _guard("set_pref"), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, name, value)
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            await pipe.execute()

    async def get(self, key: str) -> str | None:
        """A value, or None (pipelined with the other reads of this loop turn)."""
        async with _guard("get"):
            value: str | None = await self._gets(self._k("kv", key))
        return value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store a value."""
        px = None if ttl is None else max(1, int(ttl * 1000))
        async with _guard("set"):
            await self._redis.set(self._k("kv", key), value, px=px)

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """SET NX PX."""
        async with _guard("claim"):
            won = await self._redis.set(self._k("kv", key), value, nx=True, px=max(1, int(ttl * 1000)))
        return bool(won)

    async def delete(self, key: str) -> None:
        """Remove a value."""
        async with _guard("delete"):
            await self._redis.delete(self._k("kv", key))

    async def incr(self, key: str, ttl: float) -> int:
        """INCR, and PEXPIRE NX so the window starts at the first increment."""
        return (await self.incr_many([(key, ttl)]))[0]

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """All the INCR + PEXPIRE NX pairs in one MULTI round trip."""
        async with _guard("incr"), self._redis.pipeline(transaction=True) as pipe:
            for key, ttl in counters:
                pipe.incr(self._k("kv", key))
                pipe.pexpire(self._k("kv", key), max(1, int(ttl * 1000)), nx=True)
            results = await pipe.execute()
        return [int(count) for count in results[::2]]

    async def incr_claim(self, counter: str, counter_ttl: float, key: str,
                         ttl: float) -> tuple[int, bool]:
        """INCR + PEXPIRE NX + SET NX PX in one script; concurrent calls share a pipeline."""
        async with _guard("incr_claim"):
            count, won = await self._claims(
                [self._k("kv", counter), self._k("kv", key)],
                [max(1, int(counter_ttl * 1000)), max(1, int(ttl * 1000))])
        return int(count), bool(won)

    async def set_notify(self, key: str, value: str, ttl: float, signal: str) -> None:
        """SET + the `notify` commands in one MULTI."""
        px = max(1, int(ttl * 1000))
        async with _guard("set_notify"), self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k("kv", key), value, px=px)
            pipe.set(self._k("sig", signal), "1", px=px)
            pipe.rpush(self._k("sigq", signal), "1")
            pipe.pexpire(self._k("sigq", signal), px)
            await pipe.execute()

    async def notify(self, key: str, ttl: float) -> None:
        """Set the sticky flag and push a wake-up token, both with the same TTL."""
        px = max(1, int(ttl * 1000))
        async with _guard("notify"), self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._k("sig", key), "1", px=px)
            pipe.rpush(self._k("sigq", key), "1")
            pipe.pexpire(self._k("sigq", key), px)
            await pipe.execute()

    async def wait(self, key: str, seconds: float) -> bool:
        """True at once when the flag is set; otherwise BLPOP the wake-up token and pass it on."""
        flag, queue = self._k("sig", key), self._k("sigq", key)
        async with _guard("wait"):
            if await self._redis.exists(flag):
                return True
            async with asyncio.timeout(seconds + _SOCKET_TIMEOUT):
                got = await self._blocking.blpop([queue], timeout=max(seconds, 0.01))
            if got is None:
                return bool(await self._redis.exists(flag))
            await self._pass_on(keys=[flag, queue])
        return True

    async def hash_all(self, key: str) -> dict[str, str]:
        """HGETALL."""
        async with _guard("hash_all"):
            values = await self._redis.hgetall(self._k("hash", key))
        return {str(name): str(value) for name, value in values.items()}  # decoded replies

    async def hash_get(self, reads: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | None]]:
        """One HMGET per hash, in one MULTI."""
        async with _guard("hash_get"), self._redis.pipeline(transaction=True) as pipe:
            for key, fields in reads:
                pipe.hmget(self._k("hash", key), list(fields) or [""])
            results = await pipe.execute()
        return [list(values)[:len(fields)] for values, (_, fields) in zip(results, reads, strict=True)]

    async def hash_update(
        self, writes: Sequence[tuple[str, Mapping[str, str | None]]], counter: str
    ) -> int:
        """HSET + HDEL per hash and INCR of the counter, in one MULTI."""
        async with _guard("hash_update"), self._redis.pipeline(transaction=True) as pipe:
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

    async def ping(self) -> None:
        """PING, or StorageUnavailable."""
        async with _guard("ping"):
            await self._redis.ping()

    async def close(self) -> None:
        """Close both pools."""
        await self._redis.aclose()
        await self._blocking.aclose()
