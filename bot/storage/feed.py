"""One subscriber connection per instance that wakes local waiters when any instance writes.

Every document swap publishes the keys it wrote on one channel. Each instance keeps a single
subscription to it and resolves the futures of its own waiters for those keys, so a thousand
deliveries waiting for answers hold a thousand futures, not a thousand Redis connections.

A notification can be missed only while the subscription is down; waiters then re-read on a short
interval (`connected` is False), and every waiter is woken to re-read when it comes back. The
instance publishes a beacon on the channel every few seconds: hearing it proves the subscription
works end to end, and a subscription that hears nothing for `SILENCE` is reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

BEACON_EVERY = 5.0  # seconds between this instance's own beacon messages on the channel
SILENCE = 15.0  # no message (not even our beacon) for this long: the connection is dead


class ChangeFeed:
    """The subscription and the local waiters, by document key."""

    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.last_message = 0.0  # monotonic time of the last message heard

    def start(self) -> None:
        """Run the subscription (once)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="storage-feed")

    def watch(self, key: str) -> asyncio.Future[None]:
        """A future resolved at the next change of `key` (or when the feed reconnects)."""
        self.start()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(waiter)
        return waiter

    def forget(self, key: str, waiter: asyncio.Future[None]) -> None:
        """Drop a waiter (its wait is over)."""
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[key]

    def _wake(self, key: str) -> None:
        for waiter in self._waiters.pop(key, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _wake_all(self) -> None:
        for key in list(self._waiters):
            self._wake(key)

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._listen()
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("storage: change feed lost (%s); reconnecting in %.1f s",
                            type(exc).__name__, backoff)
            self.connected = False
            self._wake_all()  # they re-read: a change may have been missed
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _listen(self) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            self.connected, self.last_message = True, time.monotonic()
            self._wake_all()
            last_beacon = 0.0
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                now = time.monotonic()
                if message is not None:
                    self.last_message = now
                    if message.get("type") == "message":
                        self._wake(str(message["data"]))
                if now - last_beacon >= BEACON_EVERY:
                    await self._client.publish(self._channel, "")  # no key: wakes nobody
                    last_beacon = now
                if now - self.last_message > SILENCE:
                    raise TimeoutError("not even our own beacon arrived on the change feed")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Stop listening; pending waiters are woken (they re-read and time out normally)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.connected = False
        self._wake_all()
