"""Two `python -m bot serve` processes on one Redis (standalone, then a Redis Cluster), driven as
WeChat and Feishu drive a deployment.

WeChat retries a slow message and its retries land on the other instance in turn; Feishu's
callback reaches both instances (a load balancer's duplicate) and is retried. Whatever the path,
the fake LLM sees one call per message and the fake platform API delivers one answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fakes import feishu, wechat
from tests.fakes.openai import FakeOpenAI
from tests.fleet import FeishuServer, Fleet, calls_for, deliver_wechat, fleet_config, post_feishu, service_env
from tests.fleet import start_feishu as start_fake_feishu
from tests.wechat_timing import TIMING, WECHAT_WAITS

GRACE = 0.5  # after everything arrived: room for a wrongly repeated call to show up


@pytest.fixture
async def fake_feishu() -> AsyncIterator[FeishuServer]:
    fake = await start_fake_feishu()
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def two_instances(fleet: Fleet, fake_openai: FakeOpenAI, redis_url: str,
                        wechat_api: str = "", feishu_url: str = "") -> list[object]:
    config = fleet_config(wechat=TIMING)
    env = service_env(fake_openai, redis_url, wechat_api=wechat_api, feishu_url=feishu_url)
    return list(await asyncio.gather(fleet.start("a", config, env), fleet.start("b", config, env)))


async def test_wechat_retries_alternating_instances_get_one_llm_call_and_one_answer_each(
    fleet: Fleet, fake_openai: FakeOpenAI, fake_wechat: wechat.FakeWeChatAPI, any_redis_url: str,
) -> None:
    await two_instances(fleet, fake_openai, any_redis_url, wechat_api=fake_wechat.url)
    pusher = wechat.WeChatPusher(fleet.procs[0].url, mode="safe", http=fleet.http,
                                 timeout=WECHAT_WAITS)
    texts = [f"wechat question {n}" for n in range(8)]
    # 1.2 s: answered passively on a retry (on the other instance); 2.5 s: after every retry,
    # so it goes out through the customer-service API.
    fake_openai.latency = 1.2
    quick = await asyncio.gather(*(deliver_wechat(pusher, wechat.text_xml(t, msg_id=100 + n),
                                                  fleet.procs) for n, t in enumerate(texts[:5])))
    fake_openai.latency = 2.5
    late = await asyncio.gather(*(deliver_wechat(pusher, wechat.text_xml(t, msg_id=200 + n),
                                                 fleet.procs) for n, t in enumerate(texts[5:])))
    await fake_wechat.wait_sent(3, seconds=30)
    await asyncio.sleep(GRACE)
    passive = [r.content for replies in (*quick, *late) for r in replies]
    pushed = [m["text"]["content"] for m in fake_wechat.sent]
    answers = {t: (passive + pushed).count(f"You said: {t}") for t in texts}
    assert answers == dict.fromkeys(texts, 1)
    assert {t: calls_for(fake_openai, t) for t in texts} == dict.fromkeys(texts, 1)


async def test_feishu_event_posted_to_both_instances_and_retried_gets_one_llm_call_and_one_reply(
    fleet: Fleet, fake_openai: FakeOpenAI, fake_feishu: FeishuServer, any_redis_url: str,
) -> None:
    await two_instances(fleet, fake_openai, any_redis_url, feishu_url=fake_feishu.url)
    fake_openai.latency = 0.3
    events = [feishu.message_event(f"feishu question {n}") for n in range(8)]
    for event in events:  # the same event reaches both instances at once, then comes again
        await asyncio.gather(*(post_feishu(fleet.http, p.url, event) for p in fleet.procs))
    for event in events:
        await post_feishu(fleet.http, fleet.procs[1].url, event)
    ids = {e["event"]["message"]["message_id"]: f"feishu question {n}" for n, e in enumerate(events)}
    await fake_feishu.wait_for(
        lambda f: all(f"You said: {t}" in fake_feishu.final_text(m) for m, t in ids.items()), 30)
    await asyncio.sleep(GRACE)
    assert {m: len(fake_feishu.messages_for(m)) for m in ids} == dict.fromkeys(ids, 1)
    assert {t: calls_for(fake_openai, t) for t in ids.values()} == dict.fromkeys(ids.values(), 1)
