"""Exactly one answer per WeChat message: the scenarios that broke it, as an operator saw them.

Each test waits after the last answer for longer than every timer that could still produce a
second one (the retry window, the making lease and the job re-claim), then counts.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tests.conftest import StartService
from tests.fakes import wechat
from tests.fakes.openai import FakeOpenAI
from tests.fleet import Fleet, calls_for, deliver_wechat, fleet_config, service_env
from tests.wechat_timing import TIMING as WECHAT_TIMING
from tests.wechat_timing import WECHAT_WAITS

TIMING: dict[str, Any] = {**WECHAT_TIMING, "lease": 1.0}  # WeChat's 5 s: 0.7 s
CLAIM_IDLE = 0.5
RETRIES_OVER = 4 * TIMING["hold"]  # (attempts + 1) * hold
QUIET = 2 * (RETRIES_OVER + TIMING["lease"] + 3 * CLAIM_IDLE)  # past every timer, twice


def seen(text: str, passive: list[str | None], pushed: list[str]) -> int:
    """How many times the subscriber saw the answer to `text`."""
    answer = f"You said: {text}"
    return sum(1 for content in [*passive, *pushed] if content and answer in content.split("\n"))


async def test_answers_written_in_time_on_two_instances_are_never_made_or_pushed_again(
    fleet: Fleet, fake_openai: FakeOpenAI, fake_wechat: wechat.FakeWeChatAPI, redis_url: str,
) -> None:
    config = fleet_config(claim_idle=CLAIM_IDLE, wechat=TIMING)
    env = service_env(fake_openai, redis_url, wechat_api=fake_wechat.url)
    procs = list(await asyncio.gather(fleet.start("a", config, env), fleet.start("b", config, env)))
    pusher = wechat.WeChatPusher(procs[0].url, mode="safe", http=fleet.http, timeout=5.0)
    texts = [f"question {n}" for n in range(12)]
    passive = []
    for n, text in enumerate(texts):  # each delivered once, to alternating instances
        query, body = pusher.sign_push(wechat.text_xml(text, msg_id=500 + n))
        reply = await pusher.post(query, body, url=procs[n % 2].url)
        passive.append(reply.content if reply else None)
    await asyncio.sleep(QUIET)
    pushed = [m["text"]["content"] for m in fake_wechat.sent]
    assert {t: seen(t, passive, pushed) for t in texts} == dict.fromkeys(texts, 1)
    assert {t: calls_for(fake_openai, t) for t in texts} == dict.fromkeys(texts, 1)
    assert pushed == []


async def test_more_messages_in_flight_than_job_slots_are_each_answered_once(
    start_service: StartService, fake_openai: FakeOpenAI, fake_wechat: wechat.FakeWeChatAPI,
    redis_url: str,
) -> None:
    fake_openai.latency_of = lambda body: random.uniform(0.05, 0.3)
    # WeChat's real timings: this one process also plays WeChat and the LLM, and with 300
    # connections at once a handler may start a second after WeChat sent the push; a shorter
    # timer would measure that lag, not our delivery. The lease is long enough to renew 300
    # of them in time (a take-over is, by design, a second LLM call).
    timing: dict[str, Any] = {"deadline": 4.5, "hold": 5.5, "listens": 5.0, "lease": 5.0}
    pusher = await wechat.start_wechat(start_service, api=fake_wechat, customer_service=True,
                                       env={"REDIS_URL": redis_url},
                                       storage={"job_claim_idle": CLAIM_IDLE}, **timing)
    pusher.timeout = timing["listens"]
    texts = [f"crowd {n}" for n in range(300)]  # the job queue runs 256 at once
    results = await asyncio.gather(*(pusher.push(wechat.text_xml(t, msg_id=10_000 + n,
                                                                 openid=f"o{n}"))
                                     for n, t in enumerate(texts)))
    await asyncio.sleep(4 * timing["hold"] + timing["lease"] + 3 * CLAIM_IDLE + 2)
    passive = [reply.content if reply else None for reply, _ in results]
    pushed = [m["text"]["content"] for m in fake_wechat.sent]
    assert {t: seen(t, passive, pushed) for t in texts} == dict.fromkeys(texts, 1)
    assert {t: calls_for(fake_openai, t) for t in texts} == dict.fromkeys(texts, 1)


async def test_an_identical_redelivery_after_the_answer_gets_the_answer_again(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str,
) -> None:
    # A reply written "in time" by our clock may still not reach WeChat (a proxy in between, or
    # WeChat's timer ran out first): WeChat then delivers the very same push again.
    pusher = await wechat.start_wechat(start_service, env={"REDIS_URL": redis_url}, **TIMING)
    query, body = pusher.sign_push(wechat.text_xml("are you there?", msg_id=77))
    first = await pusher.post(query, body)
    again = await pusher.post(query, body)
    await asyncio.sleep(QUIET)
    assert first is not None
    assert again is not None
    assert (first.content, again.content) == ("You said: are you there?",) * 2
    assert calls_for(fake_openai, "are you there?") == 1


async def test_a_retry_landing_while_another_instance_holds_the_answer_gets_it(
    fleet: Fleet, fake_openai: FakeOpenAI, fake_wechat: wechat.FakeWeChatAPI, redis_url: str,
) -> None:
    config = fleet_config(claim_idle=CLAIM_IDLE, wechat=TIMING)
    env = service_env(fake_openai, redis_url, wechat_api=fake_wechat.url)
    procs = list(await asyncio.gather(fleet.start("a", config, env), fleet.start("b", config, env)))
    pusher = wechat.WeChatPusher(procs[0].url, mode="plain", http=fleet.http, timeout=WECHAT_WAITS)
    fake_openai.latency = 1.0  # past the first attempt: a retry, on the other instance, gets it
    replies = await deliver_wechat(pusher, wechat.text_xml("held", msg_id=88), procs)
    await asyncio.sleep(QUIET)
    pushed = [m["text"]["content"] for m in fake_wechat.sent]
    assert seen("held", [r.content for r in replies], pushed) == 1
    assert calls_for(fake_openai, "held") == 1
