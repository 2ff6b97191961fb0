"""The service on the topologies operators run: a hash slot moved while messages flow on a Redis
Cluster, and a Sentinel failover (ordered, then by SIGKILL of the master) under live traffic.

Two `serve` processes each time; every answer the user sees is counted (passive replies and
customer-service pushes for WeChat, distinct replies for Feishu), after waiting past the timers.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from adapters.wechat.texts import DEFAULTS as TEXTS
from tests.fakes import feishu, wechat
from tests.fakes.openai import FakeOpenAI
from tests.fleet import FeishuServer, Fleet, deliver_wechat, fleet_config, post_feishu, service_env
from tests.fleet import start_feishu as start_fake_feishu
from tests.procs import ServeProcess
from tests.redis_topologies import Cluster, SentinelGroup, command

log = logging.getLogger(__name__)
TIMING: dict[str, Any] = {"deadline": 0.8, "hold": 1.5, "listens": 1.0, "lease": 3.0}
CLAIM_IDLE = 2.0
QUIET = 4 * TIMING["hold"] + TIMING["lease"] + 3 * CLAIM_IDLE + 3  # past every timer


@pytest.fixture
async def fake_wechat() -> AsyncIterator[wechat.FakeWeChatAPI]:
    async with wechat.wechat_api() as api:
        yield api


@pytest.fixture
async def fake_feishu() -> AsyncIterator[FeishuServer]:
    fake = await start_fake_feishu()
    yield fake
    assert fake.server is not None
    await fake.server.close()


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A group of its own: these tests fail its master over."""
    group = SentinelGroup(tmp_path / "sentinel")
    group.start()
    yield group
    group.stop()


async def pair(fleet: Fleet, fake_openai: FakeOpenAI, url: str, **platforms: str) -> list[ServeProcess]:
    # replica_wait scaled down like WeChat's timers (0.5 s against a 5 s window by default)
    config = fleet_config(claim_idle=CLAIM_IDLE, wechat=TIMING, storage={"replica_wait": 0.1})
    env = service_env(fake_openai, url, **platforms)
    return list(await asyncio.gather(fleet.start("a", config, env), fleet.start("b", config, env)))


def wechat_seen(texts: Sequence[str], passive: Sequence[list[wechat.Reply]],
                pushed: Sequence[str]) -> dict[str, int]:
    shown = [r.content or "" for replies in passive for r in replies] + list(pushed)
    return {t: sum(1 for c in shown if f"You said: {t}" in c.split("\n")) for t in texts}


def migrate(cluster: Cluster, slot: int) -> tuple[int, int]:
    """Move `slot` to another master with the documented steps; (from port, to port)."""
    source = cluster.owner(slot)
    target = next(p for p in cluster.ports if p != source)
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    command(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
    command(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
    while keys := command(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split():
        command(source, "MIGRATE", "127.0.0.1", str(target), "", "0", "5000", "KEYS", *keys)
    for port in cluster.ports:
        command(port, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
    return source, target


async def test_a_hash_slot_moved_while_messages_flow_loses_and_repeats_nothing(
    fleet: Fleet, fake_openai: FakeOpenAI, fake_wechat: wechat.FakeWeChatAPI,
    redis_cluster: Cluster, cluster_url: str,
) -> None:
    procs = await pair(fleet, fake_openai, cluster_url, wechat_api=fake_wechat.url)
    openid = "o-moving"
    slot = key_slot(f"{wechat.ACCOUNT}/{openid}".encode())  # the subscriber's hash tag
    pusher = wechat.WeChatPusher(procs[0].url, mode="safe", http=fleet.http,
                                 timeout=TIMING["listens"])
    fake_openai.latency_of = lambda body: random.uniform(0.1, 2.5)
    texts = [f"moving {n}" for n in range(24)]

    async def send(n: int, text: str) -> list[wechat.Reply]:
        await asyncio.sleep(n * 0.4)
        return await deliver_wechat(pusher, wechat.text_xml(text, msg_id=900 + n, openid=openid),
                                    procs)

    sending = asyncio.gather(*(send(n, t) for n, t in enumerate(texts)))
    await asyncio.sleep(4.0)  # messages of this subscriber are being answered now
    source, target = await asyncio.to_thread(migrate, redis_cluster, slot)
    passive = await sending
    await asyncio.sleep(QUIET)
    pushed = [m["text"]["content"] for m in fake_wechat.sent]
    assert redis_cluster.owner(slot) == target != source
    assert wechat_seen(texts, passive, pushed) == dict.fromkeys(texts, 1)
    calls = [b["messages"][-1]["content"] for b in fake_openai.chat_calls]
    assert {t: calls.count(t) for t in texts} == dict.fromkeys(texts, 1)


@pytest.mark.parametrize("how", ["SENTINEL FAILOVER", "SIGKILL of the master"])
async def test_a_sentinel_failover_under_traffic_is_followed(
    fleet: Fleet, fake_openai: FakeOpenAI, fake_wechat: wechat.FakeWeChatAPI,
    fake_feishu: FeishuServer, sentinels: SentinelGroup, how: str,
) -> None:
    procs = await pair(fleet, fake_openai, sentinels.url, wechat_api=fake_wechat.url,
                       feishu_url=fake_feishu.url)
    pusher = wechat.WeChatPusher(procs[0].url, mode="plain", http=fleet.http,
                                 timeout=TIMING["listens"])
    fake_openai.latency_of = lambda body: random.uniform(0.1, 2.5)
    texts = [f"failover {n}" for n in range(24)]
    events = [feishu.message_event(f"failover feishu {n}") for n in range(12)]

    async def send(n: int, text: str) -> list[wechat.Reply]:
        await asyncio.sleep(n * 0.4)
        return await deliver_wechat(pusher, wechat.text_xml(text, msg_id=800 + n, openid=f"o{n}"),
                                    procs)

    async def post(n: int, event: dict[str, object]) -> None:
        await asyncio.sleep(n * 0.8)
        for attempt in range(6):  # Feishu redelivers until it gets a 200 (some land in the gap)
            status, _ = await post_feishu(fleet.http, procs[(n + attempt) % 2].url, event)
            if status == 200:
                return
            await asyncio.sleep(3.0)

    traffic = asyncio.gather(*(send(n, t) for n, t in enumerate(texts)),
                             *(post(n, e) for n, e in enumerate(events)))
    await asyncio.sleep(4.0)
    old = sentinels.master_port()
    if how == "SENTINEL FAILOVER":
        await asyncio.to_thread(sentinels.failover)
    else:
        await asyncio.to_thread(sentinels.kill_master)
    new = await asyncio.to_thread(sentinels.wait_new_master, old)
    if how != "SENTINEL FAILOVER":  # its supervisor restarts the killed node: a replica again
        await asyncio.sleep(2.0)
        await asyncio.to_thread(sentinels.restart_as_replica, old, new)
    results = await traffic
    await asyncio.sleep(QUIET)
    passive = [r for r in results[:len(texts)] if isinstance(r, list)]
    seen = wechat_seen(texts, passive, [m["text"]["content"] for m in fake_wechat.sent])
    ids = [e["event"]["message"]["message_id"] for e in events]
    replies = {m: len(fake_feishu.messages_for(m)) for m in ids}
    lost = [t for t, n in seen.items() if n == 0] + [m for m, n in replies.items() if n == 0]
    repeated = [t for t, n in seen.items() if n > 1] + [m for m, n in replies.items() if n > 1]
    busy = TEXTS["wechat_unavailable"]
    told = {t for t, r in zip(texts, passive, strict=False) if any(x.content == busy for x in r)}
    log.warning("%s: master %d -> %d; %d WeChat and %d Feishu messages; lost %d (told to send "
                "again: %d), seen twice %d; lost untold: %s", how, old, new, len(texts), len(ids),
                len(lost), len(told & set(lost)), len(repeated), sorted(set(lost) - told))
    assert new != old
    # No message goes unanswered in silence: a WeChat delivery that cannot reach storage within
    # 2 s answers on its own if the model is quick enough, or tells the subscriber to send again.
    assert set(lost) <= told
    # Replication is asynchronous, and the old master takes writes until it is told to follow the
    # new one: such writes fail here (storage.replica_acks, bot/storage/replicas.py) rather than
    # vanish. What is left is an answer given twice at worst (a served mark that failed, say),
    # never one lost. docs/deploy.md; the figures are logged above.
    assert len(repeated) <= len(texts) // 3, repeated
