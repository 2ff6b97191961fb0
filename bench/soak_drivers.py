"""The soak's traffic: WeChat, Feishu and webhook deliveries as those platforms and clients make
them, each to a random live instance, recording what the user was shown."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from tests.conftest import API_KEY
from tests.fakes import feishu, wechat
from tests.fleet import FeishuServer, post_feishu

if TYPE_CHECKING:
    from bench.soak import Soak

WECHAT_WAITS = 5.0  # WeChat reads a reply this long, then retries the identical push
USERS = 50  # WeChat subscribers the messages come from


@dataclass
class Seen:
    """Per message: who it was for and what the user was shown passively."""

    wechat_users: dict[str, str] = field(default_factory=dict)  # text -> openid
    msg_ids: dict[str, int] = field(default_factory=dict)  # text -> MsgId
    passive: dict[str, list[str | None]] = field(default_factory=dict)  # text -> replies read
    replies: dict[str, list[str]] = field(default_factory=dict)  # text -> how each was read
    feishu_ids: dict[str, str] = field(default_factory=dict)  # text -> message_id
    api_ids: dict[str, str] = field(default_factory=dict)  # text -> job id
    deliveries: Counter[str] = field(default_factory=Counter)


class Drivers:
    """Starts every delivery at its time in the arrival window."""

    def __init__(self, soak: Soak, http: aiohttp.ClientSession, feishu_fake: FeishuServer) -> None:
        self._soak, self._http, self._feishu = soak, http, feishu_fake
        self.seen = Seen()
        plan = soak.plan
        self._latency: dict[str, float] = {}
        soak.llm.latency_of = lambda body: self._latency.get(
            str(body["messages"][-1]["content"]), 0.0)
        rng = soak.rng
        self._schedule: list[tuple[float, Any]] = []
        for kind, count, start in (("wechat", plan.wechat, self._wechat),
                                   ("feishu", plan.feishu, self._feishu_event),
                                   ("api", plan.api, self._api)):
            for n in range(count):
                text = f"soak {kind} {n}"
                self._latency[text] = rng.uniform(0.0, plan.max_latency)
                self._schedule.append((rng.uniform(0.0, plan.arrivals), (start, n, text)))
        self._schedule.sort(key=lambda item: item[0])

    async def run(self) -> None:
        """Every delivery, at its time; returns when the last one is done."""
        began = time.monotonic()
        running = []
        for at, (start, n, text) in self._schedule:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - began)))
            running.append(asyncio.create_task(start(n, text)))
        await asyncio.gather(*running)

    def _target(self) -> str:
        return self._soak.rng.choice(self._soak.live() or self._soak.instances).url

    async def _wechat(self, n: int, text: str) -> None:
        openid = f"o-soak-{n % USERS}"
        self.seen.wechat_users[text] = openid
        self.seen.msg_ids[text] = 7_000_000 + n
        pusher = wechat.WeChatPusher("", mode="safe" if n % 2 else "plain", http=self._http,
                                     timeout=WECHAT_WAITS)
        query, body = pusher.sign_push(wechat.text_xml(text, msg_id=7_000_000 + n, openid=openid))
        for _ in range(3):  # the identical push, each try to a random instance
            tried = time.monotonic()
            self.seen.deliveries["wechat tries"] += 1
            try:
                reply = await pusher.post(query, body, url=self._target())
            except aiohttp.ClientError:  # the instance died under it: WeChat's timer runs out
                self.seen.deliveries["wechat tries refused"] += 1
                await asyncio.sleep(max(0.0, WECHAT_WAITS - (time.monotonic() - tried)))
                continue
            if reply is None or reply.status != 200:
                self.seen.deliveries["wechat tries unanswered"] += 1
                continue
            self.seen.passive.setdefault(text, []).append(reply.content)
            self.seen.replies.setdefault(text, []).append(f"{time.monotonic() - tried:.1f}s "
                                                         f"{reply.status} {reply.body[:40]!r}")
            return
        self.seen.deliveries["wechat messages WeChat gave up on"] += 1

    async def _feishu_event(self, n: int, text: str) -> None:
        event = feishu.message_event(text, sender=f"ou_soak_{n % USERS}")
        self.seen.feishu_ids[text] = event["event"]["message"]["message_id"]
        rng = self._soak.rng
        for round_ in range(1 + rng.randint(1, 2)):  # the event, then Feishu's redeliveries
            copies = 2 if round_ and rng.random() < 0.3 else 1  # sometimes two instances at once
            self.seen.deliveries["feishu posts"] += copies
            await asyncio.gather(*(post_feishu(self._http, self._target(), event)
                                   for _ in range(copies)))
            await asyncio.sleep(rng.uniform(0.5, 10.0))

    async def _api(self, n: int, text: str) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": f"soak-{n}"}
        body = {"user": f"api-{n % USERS}", "text": text, "async": True}
        for _ in range(2):  # a client retrying its request with the same key
            self.seen.deliveries["api posts"] += 1
            try:
                async with self._http.post(f"{self._target()}/api/chat", json=body,
                                           headers=headers) as response:
                    answer = await response.json()
                    if response.status == 202:
                        self.seen.api_ids[text] = str(answer["id"])
            except (aiohttp.ClientError, ValueError):
                self.seen.deliveries["api posts refused"] += 1
            await asyncio.sleep(1.0)
