"""Writes that must survive a failover: counted as done only once a replica has them (`WAIT`).

Replication is asynchronous. Without this, a write the master acknowledged just before a
failover, or one sent to the old master after Sentinel promoted its replica (until the old one is
told to follow, which took 10 s in our tests), is silently gone; for a message's record or job
that is a message nobody answers. With it such a write fails as StorageUnavailable, which every
caller handles (retried, or the platform redelivers), and is retried on the master the sentinels
name now. Reads of documents behind Sentinel are confirmed the same way: the old master answers
from before the promotion until it is told to follow (`redis_docs.py`).

Behind Sentinel, a write that no replica confirms (`judge`, on a shared `Spell`) went to:
- the old side of a failover, when the sentinels now name another node: it fails;
- a master just promoted, whose replicas are still being pointed at it or whose old master died:
  it counts (nothing else could be promoted in its place);
- the master that replicas confirmed until now: it fails for `GRACE` seconds, in case the
  sentinels are about to name another one, then counts (its replicas are down; availability
  wins, and the log says so once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import RedisError

from bot.errors import ConfigError, StorageUnavailable
from bot.storage.connect import Client, Target

log = logging.getLogger(__name__)

GRACE = 2.0  # seconds a master the sentinels name may go unconfirmed before its writes count


Address = tuple[str, int]


class Spell:
    """This process's view of the master's confirmations, shared by its clients (storage, jobs):
    they talk to the same master."""

    def __init__(self) -> None:
        self.confirmed_on: Address | None = None  # the master whose writes replicas confirmed
        self.since: float | None = None  # it has gone unconfirmed since then (None: it has not)
        self.warned = False  # the log said writes go on unconfirmed


Verdict = Literal["count", "fail", "moved"]


def judge(spell: Spell, wrote_to: Address | None, named: Address, now: float) -> Verdict:
    """What a write no replica confirmed means, given the master it went to and the one the
    sentinels name now (see the module docstring); updates `spell`."""
    if wrote_to is not None and named != wrote_to:
        spell.since = None
        return "moved"  # the old side of a failover: the write may be gone
    if spell.confirmed_on is not None and named != spell.confirmed_on:
        return "count"  # a master just promoted: its replicas are on their way (or died)
    if spell.since is None:
        spell.since = now
    return "count" if now - spell.since >= GRACE else "fail"


@dataclass(frozen=True, slots=True)
class Replicas:
    """A critical write counts as done once `acks` replicas have it, waiting up to `timeout` s."""

    acks: int
    timeout: float
    spell: Spell = field(default_factory=Spell, compare=False, repr=False)


def replicas_for(target: Target, acks: int | None, timeout: float) -> Replicas | None:
    """`acks` replicas, or by default 1 behind Sentinel (its failovers promote a replica) and
    none otherwise. Not on a Cluster: its client cannot send `WAIT` on the connection that wrote."""
    wanted = (1 if target.kind == "sentinel" else 0) if acks is None else acks
    if wanted and target.kind == "cluster":
        raise ConfigError("storage.replica_acks: not supported on redis+cluster:// (set it to 0)")
    return Replicas(wanted, timeout) if wanted else None


class Confirmation:
    """What a pipeline's `WAIT` reply means for its writes (one per client's write batch)."""

    def __init__(self, client: Client, replicas: Replicas,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.replicas = replicas
        self._pool = getattr(client, "connection_pool", None)
        self._clock = clock

    async def check(self, acked: Any, wrote_to: Address | None) -> None:
        """Returns when the writes (sent to `wrote_to`) count; StorageUnavailable when they may
        be lost."""
        spell = self.replicas.spell
        if not isinstance(acked, Exception) and int(acked) >= self.replicas.acks:
            spell.confirmed_on, spell.since, spell.warned = wrote_to, None, False
            return
        detail = (f"confirmed by {acked} of {self.replicas.acks} replica(s) within "
                  f"{self.replicas.timeout:g} s")
        if not isinstance(self._pool, SentinelConnectionPool):
            raise StorageUnavailable(f"redis: {detail}")
        try:  # redis-py moves its connections when the sentinels name a new master
            named = _address(await self._pool.get_master_address())  # type: ignore[no-untyped-call]
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"redis: sentinels unreachable: {type(exc).__name__}") from exc
        verdict = judge(spell, wrote_to, named or ("", 0), self._clock())
        if verdict == "moved":
            raise StorageUnavailable(f"redis: {detail}; the sentinels name a new master")
        if verdict == "fail":
            raise StorageUnavailable(f"redis: {detail}")
        if not spell.warned:
            spell.warned = True
            log.warning("storage: %s, on the master the sentinels name: writes go on unconfirmed "
                        "until a replica is back (a failover now could lose the latest)", detail)


def _address(value: Any) -> Address | None:
    return None if not value else (str(value[0]), int(value[1]))
