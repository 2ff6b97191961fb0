"""Script calls on a real Redis: the SCRIPT EXISTS round trip is paid once, not per pipeline; a
swap publishes what it changed; replies are parsed by hiredis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.storage import Put, RedisStorage


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def _exists_calls(raw: aioredis.Redis) -> int:
    stats = await raw.info("commandstats")
    return int(stats.get("cmdstat_script|exists", {}).get("calls", 0))


async def test_swaps_after_the_first_send_no_script_exists(redis_url: str, raw: aioredis.Redis) -> None:
    store = RedisStorage(redis_url, prefix=f"scripts-{uuid.uuid4().hex}:")
    try:
        before = await _exists_calls(raw)
        etag = ""
        for i in range(5):
            ok, _ = await store.swap_docs([Put("k", etag, f"v{i}", 60)], [f"e{i}"])
            assert ok
            etag = f"e{i}"
        assert await _exists_calls(raw) - before == 1
    finally:
        await store.close()


async def test_a_swap_after_the_server_forgot_its_scripts_still_runs_once(
    redis_url: str, raw: aioredis.Redis
) -> None:
    store = RedisStorage(redis_url, prefix=f"scripts-{uuid.uuid4().hex}:")
    try:
        assert (await store.swap_docs([Put("k", "", "v1", 60)], ["e1"]))[0]
        await raw.script_flush()  # as after a restart or a fail-over to a server without them
        ok, _ = await store.swap_docs([Put("k", "e1", "v2", 60)], ["e2"])
        assert ok
        assert (await store.read_docs(["k"]))[0].value == "v2"
        assert not (await store.swap_docs([Put("k", "e1", "v3", 60)], ["e3"]))[0]  # it ran once
    finally:
        await store.close()


async def test_a_swap_publishes_the_documents_it_changed_and_no_other(
    redis_url: str, raw: aioredis.Redis
) -> None:
    prefix = f"scripts-{uuid.uuid4().hex}:"
    store = RedisStorage(redis_url, prefix=prefix)
    pubsub = raw.pubsub()
    try:
        await pubsub.subscribe(f"{prefix}changes")
        await store.swap_docs([Put("{u}gone", "", "x", 60)], ["eg"])
        # written, deleted, and absent-left-absent (no change: not published)
        ok, _ = await store.swap_docs([Put("{u}rec", "", "v", 60), Put("{u}gone", "eg", None, 60),
                                       Put("{u}queue", "", None, 60)], ["e1", "e2", "e3"])
        assert ok
        heard = []
        for _ in range(5):  # the subscription's confirmation, then the three keys, then silence
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)
            if message is not None:
                heard.append(message["data"].decode())
        assert heard == [f"{prefix}doc:{{u}}gone", f"{prefix}doc:{{u}}rec", f"{prefix}doc:{{u}}gone"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await store.close()


def test_redis_replies_are_parsed_by_hiredis() -> None:
    from redis.asyncio.connection import DefaultParser
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE  # a dependency: redis-py then parses every reply in C
    assert DefaultParser.__name__ == "_AsyncHiredisParser"


async def test_the_writes_of_one_loop_turn_share_one_round_trip(redis_url: str) -> None:
    store = RedisStorage(redis_url, prefix=f"scripts-{uuid.uuid4().hex}:")
    sent: list[int] = []
    try:
        await store.ping()
        pool = store._redis.connection_pool  # type: ignore[union-attr]
        taken = pool.get_connection

        async def counting(*args: object, **kwargs: object) -> object:
            sent.append(1)
            return await taken(*args, **kwargs)

        pool.get_connection = counting  # type: ignore[method-assign]
        await asyncio.gather(*(store.set(f"k{n}", "v", ttl=60) for n in range(20)),
                             *(store.claim(f"c{n}", ttl=60) for n in range(20)))
        assert len(sent) == 1  # twenty SETs and twenty SET NXs went out as one pipeline
    finally:
        await store.close()
