"""Redis storage on `redis.asyncio`: every operation is atomic (one command, script or MULTI)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.driver_info import DriverInfo

from bot.storage.base import Doc, Put, Turn
from bot.storage.batch import Batch
from bot.storage.redis_collections import RedisCollections, guard
from bot.storage.redis_docs import RedisDocs

# Short socket timeouts: when Redis is gone a message must still be answered quickly,
# without history, rather than hang on storage.
_CONNECT_TIMEOUT = 1.0
_SOCKET_TIMEOUT = 3.0
_POOL = 2048  # connections for ordinary commands (each is busy for a loop turn or two)


def _queue_get(pipe: Pipeline, call: tuple[Any, ...]) -> None:
    pipe.get(call[0])


def _queue_conversation(pipe: Pipeline, call: tuple[Any, ...]) -> None:
    pipe.hgetall(call[0])
    pipe.lrange(call[1], 0, -1)


class RedisStorage(RedisCollections):
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
        self._prefix = prefix
        # The change feed's subscription: one connection, no socket timeout (it waits for
        # messages), keepalive on; the feed reconnects when even its own beacon goes unheard.
        # Waiters hold a future on it, never a connection of their own.
        feed = aioredis.Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=2, timeout=None, socket_timeout=None, socket_keepalive=True,
            **options))
        self._docs = RedisDocs(self._redis, feed, prefix)
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

    async def history(self, conversation: str) -> list[Turn]:
        """The stored turns, oldest first."""
        async with guard("history"):
            raw = await self._redis.lrange(self._k("hist", conversation), 0, -1)
        return [json.loads(item) for item in raw]

    async def append_history(
        self, conversation: str, turns: Sequence[Turn], max_items: int, ttl: float
    ) -> None:
        """RPUSH + LTRIM + PEXPIRE in one script (atomic, no read-modify-write), pipelined."""
        items = [json.dumps(t, ensure_ascii=False) for t in turns]
        async with guard("append_history"):
            await self._appends([self._k("hist", conversation)],
                                [max_items, int(ttl * 1000), *items])

    async def clear_history(self, conversation: str) -> None:
        """Forget a conversation."""
        async with guard("clear_history"):
            await self._redis.delete(self._k("hist", conversation))

    async def conversation(self, conversation: str) -> tuple[dict[str, str], list[Turn]]:
        """HGETALL + LRANGE, pipelined with the other calls of this loop turn."""
        async with guard("conversation"):
            prefs, raw = await self._reads(self._k("prefs", conversation),
                                           self._k("hist", conversation))
        return dict(prefs), [json.loads(item) for item in raw]

    async def set_pref(self, conversation: str, name: str, value: str, ttl: float) -> None:
        """HSET one field + PEXPIRE in one MULTI."""
        key = self._k("prefs", conversation)
        async with guard("set_pref"), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, name, value)
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            await pipe.execute()

    async def get(self, key: str) -> str | None:
        """A value, or None (pipelined with the other reads of this loop turn)."""
        async with guard("get"):
            value: str | None = await self._gets(self._k("kv", key))
        return value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store a value."""
        px = None if ttl is None else max(1, int(ttl * 1000))
        async with guard("set"):
            await self._redis.set(self._k("kv", key), value, px=px)

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """SET NX PX."""
        async with guard("claim"):
            won = await self._redis.set(self._k("kv", key), value, nx=True, px=max(1, int(ttl * 1000)))
        return bool(won)

    async def delete(self, key: str) -> None:
        """Remove a value."""
        async with guard("delete"):
            await self._redis.delete(self._k("kv", key))

    async def incr(self, key: str, ttl: float) -> int:
        """INCR, and PEXPIRE NX so the window starts at the first increment."""
        return (await self.incr_many([(key, ttl)]))[0]

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """All the INCR + PEXPIRE NX pairs in one MULTI round trip."""
        async with guard("incr"), self._redis.pipeline(transaction=True) as pipe:
            for key, ttl in counters:
                pipe.incr(self._k("kv", key))
                pipe.pexpire(self._k("kv", key), max(1, int(ttl * 1000)), nx=True)
            results = await pipe.execute()
        return [int(count) for count in results[::2]]

    async def read_docs(self, keys: Sequence[str]) -> list[Doc]:
        """HMGET per document, pipelined."""
        async with guard("read_docs"):
            return await self._docs.read(keys)

    async def swap_docs(self, puts: Sequence[Put], etags: Sequence[str]) -> tuple[bool, list[Doc]]:
        """One compare-and-swap script (pipelined with the others of this loop turn)."""
        async with guard("swap_docs"):
            return await self._docs.swap(puts, etags)

    async def wait_change(self, key: str, etag: str, seconds: float) -> Doc:
        """Woken by the instance's change feed; no connection is held while waiting."""
        async with guard("wait_change"):
            return await self._docs.wait_change(key, etag, seconds)

    async def start(self) -> None:
        """Subscribe to the change feed now, rather than at the first wait."""
        self._docs.feed.start()

    @property
    def feed_connected(self) -> bool:
        """Whether this instance's change subscription is up."""
        return self._docs.feed.connected

    async def ping(self) -> None:
        """PING, or StorageUnavailable."""
        async with guard("ping"):
            await self._redis.ping()

    async def close(self) -> None:
        """Close the pools and the change feed."""
        await self._docs.close()
        await self._redis.aclose()
