"""Writes that must survive a failover wait for the replica (`storage.replica_acks`, `WAIT`).

Replication is asynchronous: a write the master acknowledged just before a failover, or one sent
to the old master after the replica was promoted, is gone. A message's record step or its job
lost that way is a message answered by nobody, so those writes count only once a replica has
them; otherwise they fail as StorageUnavailable, which every caller already handles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ReadOnlyError

from bot.errors import ConfigError, StorageUnavailable
from bot.jobs import RedisJobs
from bot.settings import load
from bot.storage import Put, RedisStorage
from bot.storage.connect import Gate, parse
from bot.storage.redis_docs import RedisDocs
from bot.storage.replicas import GRACE, Replicas, Spell, judge, replicas_for
from bot.tasks import TaskOwner
from tests.redis_topologies import SentinelGroup, command


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A group of its own: these tests cut its replica off."""
    sentinels = SentinelGroup(tmp_path / "sentinel")
    sentinels.start()
    yield sentinels
    sentinels.stop()


@pytest.fixture
async def tasks() -> AsyncIterator[TaskOwner]:
    owner = TaskOwner()
    yield owner
    await owner.drain(1.0)


def replica_port(group: SentinelGroup) -> int:
    return next(p for p in group.data_ports if p != group.master_port())


def cut_off_replica(group: SentinelGroup) -> None:
    """The replica promoted behind the master's back: what the old master sees in a failover."""
    command(replica_port(group), "REPLICAOF", "NO", "ONE")


async def swap(storage: RedisStorage, key: str, value: str) -> None:
    await storage.swap_docs([Put(key, "", value)], ["e1"])


OLD, NEW = ("127.0.0.1", 6001), ("127.0.0.1", 6002)


def confirmed_on(address: tuple[str, int]) -> Spell:
    spell = Spell()
    spell.confirmed_on = address
    return spell


def test_an_unconfirmed_write_to_a_master_the_sentinels_no_longer_name_fails() -> None:
    assert judge(confirmed_on(OLD), OLD, NEW, now=0.0) == "moved"


def test_an_unconfirmed_write_to_a_master_just_promoted_counts() -> None:
    assert judge(confirmed_on(OLD), NEW, NEW, now=0.0) == "count"


def test_the_confirmed_master_going_unconfirmed_fails_for_the_grace_then_counts() -> None:
    spell = confirmed_on(OLD)
    assert judge(spell, OLD, OLD, now=100.0) == "fail"
    assert judge(spell, OLD, OLD, now=100.0 + GRACE - 0.1) == "fail"
    assert judge(spell, OLD, OLD, now=100.0 + GRACE) == "count"


def test_a_process_that_never_saw_a_confirmation_waits_out_the_grace_too() -> None:
    spell = Spell()
    assert judge(spell, OLD, OLD, now=100.0) == "fail"
    assert judge(spell, OLD, OLD, now=100.0 + GRACE) == "count"


def test_a_failover_during_the_grace_ends_it() -> None:
    spell = confirmed_on(OLD)
    assert judge(spell, OLD, OLD, now=100.0) == "fail"
    assert judge(spell, OLD, NEW, now=101.0) == "moved"
    assert spell.since is None


@pytest.mark.parametrize(("url", "acks"), [
    ("redis+sentinel://127.0.0.1:26379/mymaster", 1),
    ("redis://127.0.0.1:6379/0", None),
    ("redis+cluster://127.0.0.1:7000", None),
])
def test_by_default_critical_writes_wait_for_one_replica_behind_sentinel_only(
        url: str, acks: int | None) -> None:
    found = replicas_for(parse(url), None, 0.5)
    assert (found.acks if found else None) == acks


def test_replica_acks_can_be_set_and_zero_turns_the_wait_off() -> None:
    standalone = parse("redis://127.0.0.1:6379/0")
    assert replicas_for(standalone, 2, 0.25) == Replicas(2, 0.25)
    assert replicas_for(parse("redis+sentinel://127.0.0.1:26379/mymaster"), 0, 0.5) is None


def test_replica_acks_on_a_cluster_is_refused() -> None:
    with pytest.raises(ConfigError, match="replica_acks"):
        replicas_for(parse("redis+cluster://127.0.0.1:7000"), 1, 0.5)


def test_replica_acks_is_read_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  replica_acks: 2\n  replica_wait: 0.2\n", encoding="utf-8")
    storage = load(config, env={}).storage
    assert (storage.replica_acks, storage.replica_wait) == (2, 0.2)
    config.write_text("storage:\n  replica_acks: auto\n", encoding="utf-8")
    assert load(config, env={}).storage.replica_acks is None  # 1 behind Sentinel, else 0


async def test_behind_sentinel_a_record_write_returns_once_the_replica_has_it(
        group: SentinelGroup) -> None:
    # 5 s, not the default 0.5 s: a replica's first acknowledgement can take a second right after
    # the group starts (a write then fails and is retried: the service's case, not this test's)
    storage = RedisStorage(group.url, replicas=replicas_for(parse(group.url), None, 5.0))
    try:
        await swap(storage, "wechat:{a/o1}:msg:1", "making")
        assert command(replica_port(group), "HGET", "imbot:doc:wechat:{a/o1}:msg:1", "v") == "making"
    finally:
        await storage.close()


async def test_a_record_write_no_replica_confirms_fails_as_storage_unavailable(
        group: SentinelGroup) -> None:
    storage = RedisStorage(group.url, replicas=Replicas(1, 0.2))
    try:
        cut_off_replica(group)
        with pytest.raises(StorageUnavailable, match="replica"):
            await swap(storage, "wechat:{a/o1}:msg:2", "making")
    finally:
        await storage.close()


async def test_a_job_no_replica_confirms_fails_as_storage_unavailable(
        group: SentinelGroup, tasks: TaskOwner) -> None:
    jobs = RedisJobs(group.url, "imbot:", tasks, replicas=Replicas(1, 0.2))
    try:
        cut_off_replica(group)
        with pytest.raises(StorageUnavailable, match="replica"):
            await jobs.enqueue("wechat.answer", {"key": "3"})
    finally:
        await jobs.stop(1.0)


async def test_without_replica_acks_the_same_write_succeeds_and_may_be_lost(
        group: SentinelGroup) -> None:
    storage = RedisStorage(group.url, replicas=None)
    try:
        cut_off_replica(group)
        await swap(storage, "wechat:{a/o1}:msg:4", "making")
        assert command(replica_port(group), "HGET", "imbot:doc:wechat:{a/o1}:msg:4", "v") == ""
    finally:
        await storage.close()


@pytest.fixture
async def demoted(group: SentinelGroup) -> AsyncIterator[RedisDocs]:
    """Documents read through a connection to the replica: what a connection opened before a
    failover reaches once its node was demoted."""
    client = Redis(port=replica_port(group), decode_responses=True)
    yield RedisDocs(client, client, "imbot:", Gate(None), masters_only=True)
    await client.aclose()


async def test_behind_sentinel_documents_are_read_from_the_master(group: SentinelGroup) -> None:
    storage = RedisStorage(group.url, replicas=replicas_for(parse(group.url), None, 5.0))
    try:
        await swap(storage, "wechat:{a/o2}:msg:1", "making")
        [doc] = await storage.read_docs(["wechat:{a/o2}:msg:1"])
        assert (doc.etag, doc.value) == ("e1", "making")
    finally:
        await storage.close()


async def test_behind_sentinel_a_read_no_replica_confirms_fails_as_storage_unavailable(
        group: SentinelGroup) -> None:
    # The old master between the promotion and the sentinels' order to follow: still role:master,
    # answering from before the promotion, and no replica follows it any more
    storage = RedisStorage(group.url, replicas=Replicas(1, 0.2))
    try:
        cut_off_replica(group)
        with pytest.raises(StorageUnavailable, match="replica"):
            await storage.read_docs(["wechat:{a/o5}:msg:1"])
    finally:
        await storage.close()


async def test_a_demoted_node_refuses_to_say_a_record_is_missing(demoted: RedisDocs) -> None:
    with pytest.raises(ReadOnlyError, match="not the master"):
        await demoted.read(["wechat:{a/o3}:msg:1"])


async def test_a_demoted_node_refuses_a_swap_it_would_call_a_conflict(demoted: RedisDocs) -> None:
    with pytest.raises(ReadOnlyError, match="not the master"):
        await demoted.swap([Put("wechat:{a/o4}:msg:1", "e2", "made")], ["e1"])  # no such etag
