"""Versioned documents on Redis: a hash {e: etag, v: value} per key, swapped by one Lua script.

The script compares every key's etag first and writes only when all match (all or nothing), then
publishes each changed key on the change channel, so waiters on any instance wake at once (a
document that was absent and stays absent did not change: it is neither deleted nor published).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from bot.storage.base import Doc, Put
from bot.storage.batch import Batch
from bot.storage.connect import Client, Gate, Pipe, close
from bot.storage.feed import ChangeFeed
from bot.storage.replicas import Replicas

POLL = 0.5  # seconds between re-reads while the change feed is down

# Only a master's answer counts. After a Sentinel failover, connections opened before it still
# reach the demoted master, which serves its old data until it has resynced: a record missing
# there is not missing, and acting on it lost messages (an answer's maker "taken over" by nobody,
# its settling job done with nothing delivered). Writes fail there by themselves (READONLY); the
# reads and the swap's no-write path check the role, and fail the same way, so redis-py drops the
# connection and the caller's retry reaches the new master.
_MASTER = """
if not string.find(redis.call('INFO', 'replication'), 'role:master', 1, true) then
  return redis.error_reply('READONLY not the master: its documents may be stale')
end
"""

# Appends every key's etag and value to `out` (two entries per key) and returns it.
_DOCS = """
for j = 1, #KEYS do
  local d = redis.call('HMGET', KEYS[j], 'e', 'v')
  out[#out + 1] = d[1] or ''
  out[#out + 1] = d[2] or ''
end
return out
"""

# KEYS: the documents; their etag and value, two entries per key.
_READ = _MASTER + "local out = {}" + _DOCS

# KEYS: the documents. ARGV[1]: the change channel; then five per key: expected etag, new etag,
# "w" (write) or "d" (delete), value, TTL in ms (0: none).
_SWAP = """
for i = 1, #KEYS do
  local cur = redis.call('HGET', KEYS[i], 'e') or ''
  if cur ~= ARGV[2 + (i - 1) * 5] then
""" + _MASTER + "local out = {0}" + _DOCS + """
  end
end
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 5
  if ARGV[b + 2] == 'd' then
    if ARGV[b] ~= '' then  -- an absent document left absent is no change: nothing to wake
      redis.call('DEL', KEYS[i])
      redis.call('PUBLISH', ARGV[1], KEYS[i])
    end
  else
    redis.call('HSET', KEYS[i], 'e', ARGV[b + 1], 'v', ARGV[b + 3])
    if tonumber(ARGV[b + 4]) > 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[b + 4])
    else
      redis.call('PERSIST', KEYS[i])
    end
    redis.call('PUBLISH', ARGV[1], KEYS[i])
  end
end
return {1}
"""


def _queue_read(pipe: Pipe, call: tuple[Any, ...]) -> None:
    pipe.hmget(call[0], "e", "v")


def _doc(key: str, etag: Any, value: Any) -> Doc:
    return Doc(key, "", None) if not etag else Doc(key, str(etag), str(value or ""))


class RedisDocs:
    """`read_docs`, `swap_docs` and `wait_change` for `RedisStorage` (keys given unprefixed)."""

    def __init__(self, redis: Client, feed_client: Client, prefix: str, gate: Gate,
                 replicas: Replicas | None = None, masters_only: bool = False) -> None:
        self._prefix = f"{prefix}doc:"
        self._channel = f"{prefix}changes"
        self._feed_client = feed_client
        self._feed = ChangeFeed(feed_client, self._channel)
        script = redis.register_script(_SWAP)
        # Calls of one loop turn share a pipeline: one round trip for many messages under load.
        # `masters_only` (behind Sentinel): reads by the script that checks the role first, and
        # confirmed by `replicas` like a write. Until the sentinels tell the old master to follow,
        # it still says role:master and answers from before the promotion (a record made since is
        # "missing" there); a replica confirms nothing to it, so such a read fails, and is retried.
        if masters_only:
            read = redis.register_script(_READ)
            self._reads = Batch(redis, script=True, gate=gate, replicas=replicas,
                                add=lambda pipe, call: read(keys=[call[0]], client=cast(Any, pipe)))
        else:
            self._reads = Batch(redis, _queue_read, gate=gate)
        self._swaps = Batch(redis, script=True, gate=gate, replicas=replicas, add=lambda pipe, call: script(
            keys=call[0], args=call[1], client=cast(Any, pipe)))

    @property
    def feed(self) -> ChangeFeed:
        """The change subscription (its state is part of the instance's health)."""
        return self._feed

    async def read(self, keys: Sequence[str]) -> list[Doc]:
        """HMGET e v per key, pipelined with the other reads of this loop turn."""
        found = await asyncio.gather(*(self._reads(self._prefix + key) for key in keys))
        return [_doc(key, *pair[:2]) for key, pair in zip(keys, found, strict=True)]

    async def swap(self, puts: Sequence[Put], etags: Sequence[str]) -> tuple[bool, list[Doc]]:
        """The compare-and-swap script; (written?, docs after)."""
        args: list[Any] = [self._channel]
        for put, etag in zip(puts, etags, strict=True):
            ttl = 0 if put.ttl is None else max(1, int(put.ttl * 1000))
            args += [put.etag, etag, "d" if put.value is None else "w", put.value or "", ttl]
        reply = await self._swaps([self._prefix + put.key for put in puts], args)
        if int(reply[0]) == 1:
            return True, [Doc(put.key, etag if put.value is not None else "", put.value)
                          for put, etag in zip(puts, etags, strict=True)]
        pairs = reply[1:]
        return False, [_doc(put.key, pairs[2 * i], pairs[2 * i + 1]) for i, put in enumerate(puts)]

    async def wait_change(self, key: str, etag: str, seconds: float) -> Doc:
        """Re-read after each wake-up of the feed (or every POLL while it is down)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        full = self._prefix + key
        while True:
            waiter = self._feed.watch(full)  # before the read: a change after it wakes us
            try:
                doc = (await self.read([key]))[0]
                remaining = end - loop.time()
                if doc.etag != etag or remaining <= 0:
                    return doc
                await asyncio.wait((waiter,), timeout=remaining if self._feed.connected
                                   else min(remaining, POLL))
            finally:
                self._feed.forget(full, waiter)

    async def close(self) -> None:
        """Stop the change feed and close its connection."""
        await self._feed.close()
        await close(self._feed_client)
