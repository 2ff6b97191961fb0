"""Redis storage on `redis.asyncio`: every operation is atomic (one command, script or MULTI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import orjson

from bot.storage.base import Doc, Put, Turn
from bot.storage.batch import Batch
from bot.storage.connect import Pipe, close, connect, gate_for, parse
from bot.storage.redis_collections import HINCR, RedisCollections, guard
from bot.storage.redis_docs import RedisDocs
from bot.storage.replicas import Replicas

# Short socket timeouts: when Redis is gone a message must still be answered quickly,
# without history, rather than hang on storage.
_SOCKET_TIMEOUT = 3.0


def _queue_get(pipe: Pipe, call: tuple[Any, ...]) -> None:
    pipe.get(call[0])


def _queue_set(pipe: Pipe, call: tuple[Any, ...]) -> None:
    key, value, px, nx = call
    pipe.set(key, value, px=px, nx=nx)


def _queue_delete(pipe: Pipe, call: tuple[Any, ...]) -> None:
    pipe.delete(call[0])


def _queue_conversation(pipe: Pipe, call: tuple[Any, ...]) -> None:
    pipe.hgetall(call[0])
    pipe.lrange(call[1], 0, -1)


class RedisStorage(RedisCollections):
    """Storage shared by every instance that points at the same Redis and key prefix."""

    kind = "redis"

    def __init__(self, url: str, prefix: str = "imbot:", max_connections: int = 64,
                 name: str = "", replicas: Replicas | None = None) -> None:
        target = parse(url)
        # A bounded pool that waits for a free connection past its size: calls of one loop turn
        # share a pipeline (batch.py), so even 1024 messages in flight need only a few of them.
        self._redis = connect(target, max_connections=max_connections,
                              socket_timeout=_SOCKET_TIMEOUT, wait_timeout=_SOCKET_TIMEOUT,
                              name=name)
        self._gate = gate_for(self._redis, max_connections)
        self._prefix = prefix
        # The change feed's subscription: one connection, no socket timeout (it waits for
        # messages), keepalive on; the feed reconnects when even its own beacon goes unheard.
        # Waiters hold a future on it, never a connection of their own.
        feed = connect(target, max_connections=2, socket_timeout=None, wait_timeout=None,
                       name=name, keepalive=True)
        # Document swaps (every step of a message's record) wait for `replicas` to have them;
        # behind Sentinel, documents are read only from the master (see redis_docs.py).
        self._docs = RedisDocs(self._redis, feed, prefix, self._gate, replicas,
                               masters_only=target.kind == "sentinel")
        self._append = self._redis.register_script(
            "if #ARGV > 2 then redis.call('RPUSH', KEYS[1], unpack(ARGV, 3)) end "
            "if tonumber(ARGV[1]) > 0 then redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1) "
            "redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end "
            "return 1"
        )
        # Calls of one loop turn share a pipeline: one round trip and one connection under load.
        # (script=True: on a cluster these go out one by one, bounded by `_op`'s gate.)
        self._appends = Batch(self._redis, script=True, gate=self._gate, add=lambda pipe, call: self._append(
            keys=call[0], args=call[1], client=cast(Any, pipe)))
        hincr = self._redis.register_script(HINCR)
        self._hincrs = Batch(self._redis, script=True, gate=self._gate, add=lambda pipe, call: hincr(
            keys=call[0], args=call[1], client=cast(Any, pipe)))
        self._reads = Batch(self._redis, _queue_conversation, gate=self._gate)
        self._gets = Batch(self._redis, _queue_get, gate=self._gate)
        # Single commands, each atomic on its own: a pipeline only shares the round trip.
        self._sets = Batch(self._redis, _queue_set, gate=self._gate)
        self._deletes = Batch(self._redis, _queue_delete, gate=self._gate)

    async def append_history(
        self, conversation: str, turns: Sequence[Turn], max_items: int, ttl: float
    ) -> None:
        """RPUSH + LTRIM + PEXPIRE in one script (atomic, no read-modify-write), pipelined."""
        items = [orjson.dumps(t, option=orjson.OPT_NON_STR_KEYS).decode() for t in turns]
        async with self._op("append_history"):
            await self._appends([self._k("hist", conversation)],
                                [max_items, int(ttl * 1000), *items])

    async def clear_history(self, conversation: str) -> None:
        """Forget a conversation."""
        async with self._op("clear_history"):
            await self._redis.delete(self._k("hist", conversation))

    async def conversation(self, conversation: str) -> tuple[dict[str, str], list[Turn]]:
        """HGETALL + LRANGE, pipelined with the other calls of this loop turn."""
        async with self._op("conversation"):
            prefs, raw = await self._reads(self._k("prefs", conversation),
                                           self._k("hist", conversation))
        return dict(prefs), [orjson.loads(item) for item in raw]

    async def set_pref(self, conversation: str, name: str, value: str, ttl: float) -> None:
        """HSET one field + PEXPIRE in one MULTI."""
        key = self._k("prefs", conversation)
        async with self._op("set_pref"), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, name, value)
            pipe.pexpire(key, max(1, int(ttl * 1000)))
            await pipe.execute()

    async def get(self, key: str) -> str | None:
        """A value, or None (pipelined with the other reads of this loop turn)."""
        async with self._op("get"):
            value: str | None = await self._gets(self._k("kv", key))
        return value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """SET (PX), pipelined with the other writes of this loop turn."""
        px = None if ttl is None else max(1, int(ttl * 1000))
        async with self._op("set"):
            await self._sets(self._k("kv", key), value, px, False)

    async def claim(self, key: str, ttl: float, value: str = "1") -> bool:
        """SET NX PX, pipelined with the other writes of this loop turn."""
        async with self._op("claim"):
            won = await self._sets(self._k("kv", key), value, max(1, int(ttl * 1000)), True)
        return bool(won)

    async def delete(self, key: str) -> None:
        """DEL, pipelined with the other deletes of this loop turn."""
        async with self._op("delete"):
            await self._deletes(self._k("kv", key))

    async def incr_many(self, counters: Sequence[tuple[str, float]]) -> list[int]:
        """All the INCR + PEXPIRE NX pairs (the window starts at the first increment) in one
        MULTI round trip."""
        async with self._op("incr"), self._redis.pipeline(transaction=True) as pipe:
            for key, ttl in counters:
                pipe.incr(self._k("kv", key))
                pipe.pexpire(self._k("kv", key), max(1, int(ttl * 1000)), nx=True)
            results = await pipe.execute()
        return [int(count) for count in results[::2]]





    async def read_docs(self, keys: Sequence[str]) -> list[Doc]:
        """HMGET per document, pipelined."""
        async with self._op("read_docs"):
            return await self._docs.read(keys)

    async def swap_docs(self, puts: Sequence[Put], etags: Sequence[str]) -> tuple[bool, list[Doc]]:
        """One compare-and-swap script (pipelined with the others of this loop turn)."""
        async with self._op("swap_docs"):
            return await self._docs.swap(puts, etags)

    async def wait_change(self, key: str, etag: str, seconds: float) -> Doc:
        """Woken by the instance's change feed; no connection is held while waiting."""
        async with guard("wait_change"):  # never gated: a wait holds no connection
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
        async with self._op("ping"):
            await self._redis.ping()

    async def close(self) -> None:
        """Close the pools and the change feed."""
        await self._docs.close()
        await close(self._redis)




