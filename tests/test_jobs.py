"""Durable jobs: run once, retried on failure, and finished by another instance after a crash."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.jobs import JobQueue, MemoryJobs, RedisJobs
from bot.tasks import TaskOwner

Factory = Callable[..., JobQueue]


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Build queues of one backend; every queue built is stopped at the end."""
    made: list[JobQueue] = []

    def make(claim_idle: float = 60.0) -> JobQueue:
        tasks = TaskOwner()
        if request.param == "memory":
            queue: JobQueue = MemoryJobs(tasks, retry_delay=0.01)
        else:
            url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")
            queue = RedisJobs(url, "jobs-test:", tasks, claim_idle=claim_idle, block=0.1)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.stop(1)


async def test_an_enqueued_job_runs_with_its_payload(make_queue: Factory) -> None:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    queue = make_queue()
    queue.register("greet", seen.put)
    await queue.start()
    await queue.enqueue("greet", {"who": "世界"})
    assert await asyncio.wait_for(seen.get(), 5) == {"who": "世界"}


async def test_a_failing_job_is_retried_until_it_succeeds(make_queue: Factory) -> None:
    attempts: list[int] = []
    done = asyncio.Event()

    async def flaky(payload: dict[str, Any]) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("transient")
        done.set()

    queue = make_queue(claim_idle=0.2)
    queue.register("flaky", flaky)
    await queue.start()
    await queue.enqueue("flaky", {})
    await asyncio.wait_for(done.wait(), 10)
    assert len(attempts) == 3


async def test_each_job_runs_once_across_two_instances(any_redis_url: str) -> None:
    redis_url = any_redis_url
    ran: list[int] = []
    all_ran = asyncio.Event()

    async def record(payload: dict[str, Any]) -> None:
        ran.append(payload["n"])
        if len(ran) == 20:
            all_ran.set()

    queues = [RedisJobs(redis_url, "twice:", TaskOwner(), block=0.1) for _ in range(2)]
    for queue in queues:
        queue.register("count", record)
        await queue.start()
    try:
        for n in range(20):
            await queues[n % 2].enqueue("count", {"n": n})
        await asyncio.wait_for(all_ran.wait(), 10)
        await asyncio.sleep(0.3)  # room for a wrongly repeated job to show up
    finally:
        for queue in queues:
            await queue.stop(1)
    assert sorted(ran) == list(range(20))


async def test_a_job_whose_worker_stopped_midway_is_finished_by_another_instance(
    any_redis_url: str,
) -> None:
    redis_url = any_redis_url
    started, finished = asyncio.Event(), asyncio.Event()

    async def hang(payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(3600)

    async def finish(payload: dict[str, Any]) -> None:
        finished.set()

    dying_tasks = TaskOwner()
    dying = RedisJobs(redis_url, "crash-test:", dying_tasks, claim_idle=0.3, block=0.1)
    dying.register("work", hang)
    await dying.start()
    await dying.enqueue("work", {"id": 1})
    await asyncio.wait_for(started.wait(), 5)
    await dying.stop(0.05)  # the deploy's drain bound passes; the job was never acknowledged
    survivor = RedisJobs(redis_url, "crash-test:", TaskOwner(), claim_idle=0.3, block=0.1)
    survivor.register("work", finish)
    await survivor.start()
    try:
        await asyncio.wait_for(finished.wait(), 10)
    finally:
        await survivor.stop(1)
        await dying_tasks.drain(0)


async def pending_of(redis_url: str, prefix: str) -> dict[str, int]:
    """Pending entries per consumer of the job stream."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        summary: Any = await client.xpending(f"{prefix}{{jobs}}:stream", "workers")
        return {c["name"]: int(c["pending"]) for c in summary["consumers"]}
    finally:
        await client.aclose()


async def test_a_worker_takes_only_as_many_entries_as_it_has_free_slots(redis_url: str) -> None:
    release = asyncio.Event()

    async def hold(payload: dict[str, Any]) -> None:
        await release.wait()

    queue = RedisJobs(redis_url, "slots:", TaskOwner(), concurrency=2, block=0.1)
    queue.register("hold", hold)
    for n in range(5):
        await queue.enqueue("hold", {"n": n})
    await queue.start()
    try:
        await asyncio.sleep(0.5)
        assert list((await pending_of(redis_url, "slots:")).values()) == [2]
    finally:
        release.set()
        await queue.stop(1)


@pytest.mark.parametrize("concurrency", [1024, 8], ids=["room-for-all", "few-slots"])
async def test_every_entry_of_a_dead_worker_is_re_claimed(any_redis_url: str,
                                                          concurrency: int) -> None:
    redis_url = any_redis_url
    done: list[int] = []
    all_done = asyncio.Event()

    async def hang(payload: dict[str, Any]) -> None:
        await asyncio.sleep(3600)

    async def finish(payload: dict[str, Any]) -> None:
        done.append(payload["n"])
        if len(done) == 40:
            all_done.set()

    dying_tasks = TaskOwner()
    dying = RedisJobs(redis_url, "dead:", dying_tasks, claim_idle=0.5, block=0.1)
    dying.register("work", hang)
    for n in range(40):
        await dying.enqueue("work", {"n": n})
    await dying.start()
    await asyncio.sleep(0.5)
    await dying.stop(0.01)  # 40 entries taken, none acknowledged
    survivor = RedisJobs(redis_url, "dead:", TaskOwner(), concurrency=concurrency,
                         claim_idle=0.5, block=0.1)
    survivor.register("work", finish)
    await survivor.start()
    try:
        await asyncio.wait_for(all_done.wait(), 15)
    finally:
        await survivor.stop(1)
        await dying_tasks.drain(0)
    assert sorted(done) == list(range(40))


async def test_a_stalled_worker_cannot_take_back_or_acknowledge_an_entry_re_claimed_elsewhere(
    redis_url: str,
) -> None:
    import redis.asyncio as aioredis

    started, release = asyncio.Event(), asyncio.Event()

    async def slow(payload: dict[str, Any]) -> None:
        started.set()
        await release.wait()

    # claim_idle 1 s: heartbeats every 0.33 s; the test ends before "elsewhere" looks dead
    stalled = RedisJobs(redis_url, "fence:", TaskOwner(), claim_idle=1.0, block=0.1)
    stalled.register("slow", slow)
    await stalled.start()
    await stalled.enqueue("slow", {})
    await asyncio.wait_for(started.wait(), 5)
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:  # another worker re-claims it, as XAUTOCLAIM does after a stall
        [entry] = await client.xpending_range("fence:{jobs}:stream", "workers", "-", "+", 1)
        await client.xclaim("fence:{jobs}:stream", "workers", "elsewhere", 0,
                            [entry["message_id"]], justid=True)
        await asyncio.sleep(0.45)  # past the stalled worker's heartbeat interval
        assert await pending_of(redis_url, "fence:") == {"elsewhere": 1}
        release.set()
        await asyncio.sleep(0.2)  # the stalled worker finishes: it must not ack their entry
        assert await pending_of(redis_url, "fence:") == {"elsewhere": 1}
    finally:
        release.set()
        await client.aclose()
        await stalled.stop(1)


async def test_a_silently_dropped_connection_is_replaced_and_jobs_flow_again(
    redis_url: str, redis_server: Any,
) -> None:
    from tests.tcp_proxy import FreezingProxy

    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    proxy = await FreezingProxy(redis_server.port).start()
    queue = RedisJobs(proxy.url(), "dropped:", TaskOwner(), block=0.2)
    queue.register("greet", seen.put)
    await queue.start()
    producer = RedisJobs(redis_url, "dropped:", TaskOwner())
    try:
        await producer.enqueue("greet", {"n": 1})
        assert await asyncio.wait_for(seen.get(), 5) == {"n": 1}
        await asyncio.sleep(0.3)  # its acknowledgement goes out first
        proxy.freeze()  # the reader's connection now hangs with no error, like a lost route
        await producer.enqueue("greet", {"n": 2})
        assert await asyncio.wait_for(seen.get(), 20) == {"n": 2}
        await producer.enqueue("greet", {"n": 3})  # and it keeps flowing
        assert await asyncio.wait_for(seen.get(), 20) == {"n": 3}
    finally:
        await queue.stop(1)
        await producer.stop(0)
        await proxy.close()


async def test_health_reports_a_consumer_whose_reads_stopped_finishing(redis_url: str) -> None:
    queue = RedisJobs(redis_url, "health:", TaskOwner(), block=0.1)
    await queue.start()
    try:
        for _ in range(50):
            if queue.health().last_read_age is not None:
                break
            await asyncio.sleep(0.05)
        health = queue.health()
        assert (health.state, health.stuck) == ("reading", False)
        queue._last_read = time.monotonic() - 3600  # as if the read had hung for an hour
        assert queue.health().stuck
    finally:
        await queue.stop(1)


async def test_inspect_shows_a_queued_job_as_pending(make_queue: Factory) -> None:
    queue = make_queue()
    await queue.enqueue("later", {"secret": "text"})
    jobs = await queue.inspect()
    assert [(j.name, j.state) for j in jobs["pending"]] == [("later", "pending")]
    assert jobs["running"] == jobs["dead"] == []


async def test_inspect_shows_a_job_in_progress_as_running(make_queue: Factory) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(payload: dict[str, Any]) -> None:
        started.set()
        await release.wait()

    queue = make_queue()
    queue.register("slow", slow)
    await queue.start()
    await queue.enqueue("slow", {})
    await asyncio.wait_for(started.wait(), 5)
    running = (await queue.inspect())["running"]
    release.set()
    assert [(j.name, j.attempts) for j in running] == [("slow", 1)]


async def test_a_job_given_up_becomes_a_dead_letter_that_retry_runs_again(
    make_queue: Factory,
) -> None:
    attempts: list[dict[str, Any]] = []
    succeeded = asyncio.Event()
    healthy = False

    async def broken(payload: dict[str, Any]) -> None:
        attempts.append(payload)
        if not healthy:
            raise RuntimeError("still broken")
        succeeded.set()

    queue = make_queue(claim_idle=0.05)
    queue.register("broken", broken)
    await queue.start()
    await queue.enqueue("broken", {"n": 7})
    dead = []
    for _ in range(400):
        if dead := (await queue.inspect())["dead"]:
            break
        await asyncio.sleep(0.05)
    assert [(j.name, j.attempts) for j in dead] == [("broken", 5)]
    healthy = True
    assert await queue.retry(dead[0].id)
    await asyncio.wait_for(succeeded.wait(), 10)
    assert attempts[-1] == {"n": 7}
    assert (await queue.inspect())["dead"] == []


async def test_retry_of_an_unknown_job_is_refused(make_queue: Factory) -> None:
    queue = make_queue()
    assert not await queue.retry("1-0")
    assert not await queue.retry("not-an-id")
