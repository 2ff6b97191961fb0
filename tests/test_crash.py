"""A `serve` process SIGKILLed in the middle of an LLM call: another instance finishes the job.

Two instances share one Redis with `storage.job_claim_idle` at 1 s. The fake LLM holds the first
call; the instance making it is killed; the survivor re-claims the job, and the user gets exactly
one answer (the fake platform records every delivery).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.fakes import feishu, wechat
from tests.fakes.openai import FakeOpenAI
from tests.fleet import FeishuServer, Fleet, deliver_wechat, fleet_config, post_feishu, service_env
from tests.fleet import start_feishu as start_fake_feishu
from tests.procs import ServeProcess

CLAIM_IDLE = 1.0
LEASE = 1.0  # the WeChat making lease: a killed maker is taken over this long after its last renewal
FINISHED_WITHIN = 20.0  # seconds from the kill to the answer: re-claim (~1.5 s), the work, slack
HELD = 3.0  # the first LLM call's latency: long enough to be killed in the middle of it
KEYS = ("sk-instance-a", "sk-instance-b")  # tells the fake LLM which instance is calling


async def start_pair(fleet: Fleet, fake_openai: FakeOpenAI, redis_url: str, cardkit: bool = True,
                     **platforms: str) -> list[ServeProcess]:
    config = fleet_config(claim_idle=CLAIM_IDLE, wechat={"deadline": 0.8, "hold": 1.2,
                                                           "listens": 1.0, "lease": LEASE},
                          feishu={"cardkit": cardkit})
    return list(await asyncio.gather(*(
        fleet.start(name, config, service_env(fake_openai, redis_url, llm_key=key, **platforms))
        for name, key in zip("ab", KEYS, strict=True))))


async def kill_the_caller(fleet: Fleet, fake_openai: FakeOpenAI) -> ServeProcess:
    """Wait for the first LLM call, then SIGKILL the instance that made it."""
    await asyncio.wait_for(fake_openai.request_seen.wait(), 30)
    fake_openai.latency = 0  # the re-run answers at once
    caller = KEYS.index(fake_openai.headers[0]["Authorization"].removeprefix("Bearer "))
    victim = fleet.procs[caller]
    victim.kill()
    return victim


async def test_wechat_answer_cut_by_a_crash_reaches_the_user_once(
    fleet: Fleet, fake_openai: FakeOpenAI, any_redis_url: str,
) -> None:
    async with wechat.wechat_api() as api:
        await start_pair(fleet, fake_openai, any_redis_url, wechat_api=api.url)
        pusher = wechat.WeChatPusher(fleet.procs[0].url, mode="safe", http=fleet.http, timeout=1.0)
        fake_openai.latency = HELD
        text = "crash during my question"
        delivery = asyncio.create_task(deliver_wechat(pusher, wechat.text_xml(text), fleet.procs))
        await kill_the_caller(fleet, fake_openai)
        killed_at = time.monotonic()
        passive = [r.content for r in await delivery]
        if f"You said: {text}" not in passive:
            await api.wait_sent(1, seconds=FINISHED_WITHIN)
        took = time.monotonic() - killed_at
        await asyncio.sleep(CLAIM_IDLE * 2)  # room for a second delivery to show up
        pushed = [m["text"]["content"] for m in api.sent]
    assert (passive + pushed).count(f"You said: {text}") == 1
    assert took < FINISHED_WITHIN


@pytest.mark.parametrize("cardkit", [True, False], ids=["cardkit", "message-card"])
async def test_feishu_answer_cut_by_a_crash_reaches_the_user_once(
    fleet: Fleet, fake_openai: FakeOpenAI, any_redis_url: str, cardkit: bool,
) -> None:
    # With CardKit the re-run must type into the first run's card: its reply uuid shows only that.
    fake: FeishuServer = await start_fake_feishu()
    try:
        await start_pair(fleet, fake_openai, any_redis_url, cardkit, feishu_url=fake.url)
        fake_openai.latency = HELD
        event = feishu.message_event("crash during my question")
        message_id = event["event"]["message"]["message_id"]
        await post_feishu(fleet.http, fleet.procs[0].url, event)
        await kill_the_caller(fleet, fake_openai)
        answer = "You said: crash during my question"
        await fake.wait_for(lambda f: answer in fake.final_text(message_id), FINISHED_WITHIN)
        await asyncio.sleep(CLAIM_IDLE * 2)
        assert len(fake.messages_for(message_id)) == 1
    finally:
        assert fake.server is not None
        await fake.server.close()


async def test_a_job_running_longer_than_claim_idle_is_not_taken_over(redis_url: str) -> None:
    from bot.jobs import RedisJobs
    from bot.tasks import TaskOwner

    runs: list[int] = []
    done = asyncio.Event()

    async def slow(payload: dict[str, object]) -> None:
        runs.append(1)
        await asyncio.sleep(1.0)  # over three times claim_idle: only the heartbeat keeps it ours
        done.set()

    queues = [RedisJobs(redis_url, "beat:", TaskOwner(), claim_idle=0.3, block=0.1) for _ in range(2)]
    for queue in queues:
        queue.register("slow", slow)
        await queue.start()
    try:
        await queues[0].enqueue("slow", {})
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.6)  # room for a wrong take-over to start
    finally:
        for queue in queues:
            await queue.stop(1)
    assert len(runs) == 1
