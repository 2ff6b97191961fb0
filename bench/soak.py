"""The exactly-once soak: several `serve` processes on one Redis, driven as the platforms drive a
deployment, with an instance killed and Redis restarted in the middle; then every answer counted.

- WeChat: each message is delivered like WeChat does (the identical body, up to 3 tries, a try
  given up after 5 s), each try to a random live instance; plain and safe mode alternate. The fake
  LLM's latency is spread over 0 to `max_latency` s, so some answers beat the deadline, some are
  held for a retry and some go out late through the customer-service API.
- Feishu: each event is posted to a random instance, then redelivered once or twice, sometimes to
  two instances at once.
- Webhook: asynchronous `/api/chat` jobs, each request repeated with its Idempotency-Key.
- Chaos: SIGKILL of the instance with the most LLM calls in flight, a restart a few seconds later,
  and one graceful Redis restart (append-only file on, as in docker-compose).

Every answer the user saw is counted (passive reply, customer-service push, hand-over, Feishu
reply, callback). The run fails if a message was lost or seen twice, or if an LLM call was repeated
for any reason but two, each reported separately: the killed instance was the one making it; or a
Feishu copy came while Redis was down, so it was answered without its claim (a Feishu outage
answer: Feishu shows one reply per message uuid, so the user still sees one).

Run: `python -m bench soak [--short] [--messages N] [--seed S] [--keep DIR]`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.soak_drivers import Drivers, Seen
from tests.fakes import wechat
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LoopbackServer
from tests.fleet import FeishuServer, fleet_config, service_env
from tests.procs import ServeProcess
from tests.redis_proc import RedisProcess

SECRET = "soak-callback-secret"
OUTAGE_MARGIN = 3.0  # seconds after Redis answered again in which a storage failure can still surface


@dataclass(frozen=True)
class Plan:
    """How big and how long; timers are the service's own (the quiet wait outlasts them)."""

    wechat: int = 1000
    feishu: int = 150
    api: int = 100
    instances: int = 3
    arrivals: float = 100.0  # seconds over which the messages arrive
    max_latency: float = 12.0
    lease: float = 20.0  # wechat.lease
    claim_idle: float = 15.0  # storage.job_claim_idle
    kill_at: float = 0.35  # of the arrivals
    restart_after: float = 5.0
    redis_restart_at: float = 0.65
    seed: int = 7

    @property
    def quiet(self) -> float:
        """After the last delivery: WeChat's retry window (24 s), a lease, two job re-claims."""
        return 24.0 + self.lease + 2 * self.claim_idle + 10.0


SHORT = Plan(wechat=120, feishu=24, api=16, arrivals=24.0, lease=5.0, claim_idle=3.0)


class SoakLLM(FakeOpenAI):
    """The fake LLM, also recording who called when, and what is in flight per instance."""

    calls: list[tuple[float, str, str]]
    in_flight: Counter[str]

    def __init__(self) -> None:
        super().__init__()
        self.calls, self.in_flight = [], Counter()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        self.calls.append((time.monotonic(), key, str(body["messages"][-1]["content"])))
        self.in_flight[key] += 1
        try:
            return await super()._chat(request)
        finally:
            self.in_flight[key] -= 1


@dataclass
class Kill:
    """What the chaos did, for the attribution of repeated LLM calls."""

    victim_key: str = ""
    at: float = 0.0
    events: list[str] = field(default_factory=list)
    outage: tuple[float, float] = (0.0, 0.0)  # when Redis was down for its restart


class Soak:
    """One run: the processes, the drivers, the chaos, and the count."""

    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan, self.workdir = plan, workdir
        self.rng = random.Random(plan.seed)
        self.redis = RedisProcess(workdir / "redis", persist=True)
        self.llm = SoakLLM()
        self.kill = Kill()
        self.instances: list[ServeProcess] = []
        self._names = iter(f"i{n}" for n in range(100))

    async def run(self) -> dict[str, Any]:
        """The whole soak; the figures."""
        (self.workdir / "redis").mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.llm.server = await LoopbackServer(self.llm.app()).start()
        async with wechat.wechat_api() as api, aiohttp.ClientSession() as http:
            feishu_fake = FeishuServer()
            feishu_fake.server = await LoopbackServer(feishu_fake.app()).start()
            callbacks = Callbacks()
            receiver = await LoopbackServer(callbacks.app()).start()
            try:
                self._env = {**service_env(self.llm, self.redis.url, wechat_api=api.url,
                                           feishu_url=feishu_fake.url),
                             "BOT_CALLBACK_URL": f"{receiver.url}/hook",
                             "BOT_CALLBACK_SECRET": SECRET}
                await asyncio.gather(*(self._start(http) for _ in range(self.plan.instances)))
                drivers = Drivers(self, http, feishu_fake)
                started = time.monotonic()
                await asyncio.gather(drivers.run(), self._chaos(http))
                await asyncio.sleep(self.plan.quiet)
                took = time.monotonic() - started
                figures = self._count(drivers.seen, api, feishu_fake, callbacks, took)
                figures["records"] = await self._records(drivers.seen, figures["lost"])
                return figures
            finally:
                for proc in self.instances:
                    await proc.terminate(within=10)
                await receiver.close()
                await feishu_fake.server.close()
                await self.llm.server.close()
                self.redis.stop()

    async def _start(self, http: aiohttp.ClientSession) -> ServeProcess:
        name = next(self._names)
        # The service's default LLM timeout (60 s): the test default of 10 s would cut answers
        # the plan means to be slow.
        config = fleet_config(claim_idle=self.plan.claim_idle, wechat={"lease": self.plan.lease},
                              llm={"timeout": 60})
        proc = ServeProcess(self.workdir, name, config, {**self._env, "OPENAI_API_KEY": f"sk-{name}"})
        self.instances.append(proc)
        return await proc.start(http)

    def live(self) -> list[ServeProcess]:
        """The instances a delivery may land on now."""
        return [p for p in self.instances if p.alive()]

    async def _chaos(self, http: aiohttp.ClientSession) -> None:
        plan = self.plan
        await asyncio.sleep(plan.kill_at * plan.arrivals)
        victim = max(self.live(), key=lambda p: self.llm.in_flight[f"sk-{p.name}"])
        self.kill.victim_key, self.kill.at = f"sk-{victim.name}", time.monotonic()
        self.kill.events.append(f"SIGKILL {victim.name} with {self.llm.in_flight[self.kill.victim_key]}"
                                " LLM calls in flight")
        victim.kill()
        await asyncio.sleep(plan.restart_after)
        restarted = await self._start(http)
        self.kill.events.append(f"started {restarted.name}")
        await asyncio.sleep(max(0.0, (plan.redis_restart_at - plan.kill_at) * plan.arrivals
                                - plan.restart_after))
        down = time.monotonic()
        await asyncio.to_thread(self.redis.restart)
        self.kill.outage = (down, time.monotonic())
        self.kill.events.append("restarted Redis (graceful, append-only file on)")

    async def _records(self, seen: Seen, texts: list[str]) -> dict[str, Any]:
        """The WeChat records of the messages named, as storage holds them (to explain a loss)."""
        from bot.storage import RedisStorage

        storage = RedisStorage(self.redis.url)
        try:
            keys = {t: f"wechat:{{gh_account/{seen.wechat_users[t]}}}:msg:{seen.msg_ids[t]}"
                    for t in texts if t in seen.wechat_users}
            docs = await storage.read_docs(list(keys.values()))
            return {t: (doc.value and json.loads(doc.value)) for t, doc in zip(keys, docs, strict=True)}
        finally:
            await storage.close()

    def _count(self, seen: Seen, api: wechat.FakeWeChatAPI, feishu: FeishuServer,
               callbacks: Callbacks, took: float) -> dict[str, Any]:
        pushed = [(m["touser"], m["text"]["content"]) for m in api.sent if m.get("msgtype") == "text"]
        answers: dict[str, int] = {}
        for text, openid in seen.wechat_users.items():
            answer = f"You said: {text}"
            shown = [c for c in seen.passive.get(text, []) if c] + [c for u, c in pushed if u == openid]
            answers[text] = sum(1 for content in shown if answer in content.split("\n"))
        for text, message_id in seen.feishu_ids.items():
            answers[text] = len(feishu.messages_for(message_id)) if f"You said: {text}" in \
                feishu.final_text(message_id) else 0
        delivered = Counter(callbacks.ids())
        for text, job_id in seen.api_ids.items():
            answers[text] = delivered.get(job_id, 0)
        return self._figures(seen, answers, took)

    def _figures(self, seen: Seen, answers: dict[str, int], took: float) -> dict[str, Any]:
        calls: dict[str, list[tuple[float, str]]] = {}
        for at, key, text in self.llm.calls:
            calls.setdefault(text, []).append((at, key))
        by_kill: list[str] = []
        by_outage: list[str] = []  # Feishu, storage down: answered without its claim (one reply)
        extra: list[str] = []
        down, up = self.kill.outage
        for text in answers:
            made = calls.get(text, [])
            if len(made) > 1:
                cut = any(k == self.kill.victim_key and at < self.kill.at for at, k in made)
                unclaimed = text in seen.feishu_ids and any(
                    down <= at <= up + OUTAGE_MARGIN for at, _ in made)
                if len(made) == 2 and cut:
                    by_kill.append(text)
                elif len(made) == 2 and unclaimed:
                    by_outage.append(text)
                else:
                    extra.append(text)
        return {
            "plan": dataclasses.asdict(self.plan), "seconds": round(took, 1),
            "chaos": self.kill.events,
            "messages": {"wechat": len(seen.wechat_users), "feishu": len(seen.feishu_ids),
                         "api": len(seen.api_ids)},
            "deliveries": dict(seen.deliveries),
            "llm_calls": len(self.llm.calls),
            "llm_calls_per_message": dict(Counter(len(calls.get(t, [])) for t in answers)),
            "remade_after_kill": len(by_kill), "remade_in_outage": sorted(by_outage),
            "extra_llm_calls": sorted(extra)[:20],
            "answers_seen": sum(answers.values()),
            "lost": sorted(t for t, n in answers.items() if n == 0),
            "duplicated": sorted(t for t, n in answers.items() if n > 1),
        }


class Callbacks:
    """The async API's callback receiver: records every delivery."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        return app

    async def _hook(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read()))
        return web.Response(status=204)

    def ids(self) -> list[str]:
        """The job id of every callback received."""
        return [str(body.get("id")) for body in self.received]


def ok(figures: dict[str, Any]) -> bool:
    """Nothing lost, nothing seen twice, no LLM call repeated but by the kill."""
    return not (figures["lost"] or figures["duplicated"] or figures["extra_llm_calls"])


def report(figures: dict[str, Any]) -> str:
    """The figures as lines of text."""
    lines = [f"soak: {figures['messages']} messages in {figures['seconds']} s"]
    lines += [f"  chaos: {event}" for event in figures["chaos"]]
    lines.append(f"  deliveries: {figures['deliveries']}")
    lines.append(f"  LLM calls: {figures['llm_calls']} (per message: "
                 f"{figures['llm_calls_per_message']}; remade after the kill: "
                 f"{figures['remade_after_kill']}; Feishu copies answered while Redis was down: "
                 f"{len(figures['remade_in_outage'])}; unexplained: "
                 f"{len(figures['extra_llm_calls'])})")
    lines.append(f"  answers seen: {figures['answers_seen']}; lost: {len(figures['lost'])}; "
                 f"duplicated: {len(figures['duplicated'])}")
    for name in ("lost", "duplicated", "extra_llm_calls"):
        if figures[name]:
            lines.append(f"  {name}: {', '.join(figures[name][:10])}")
    return "\n".join(lines)


async def soak(plan: Plan, keep: Path | None = None) -> dict[str, Any]:
    """Run one soak in a temporary folder (or in `keep`, left with the instances' logs)."""
    if keep is not None:
        return await Soak(plan, keep).run()
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        return await Soak(plan, Path(folder)).run()


def main(argv: list[str]) -> int:
    """`python -m bench soak [--short] [--messages N] [--seed S] [--json] [--keep DIR]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--short", action="store_true", help="the short variant (about 2 min)")
    parser.add_argument("--messages", type=int, help="WeChat messages (default 1000, short 120)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--keep", type=Path, help="run in DIR and keep it (the instances' logs)")
    args = parser.parse_args(argv)
    plan = dataclasses.replace(SHORT if args.short else Plan(), seed=args.seed)
    if args.messages:
        plan = dataclasses.replace(plan, wechat=args.messages)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    figures = asyncio.run(soak(plan, args.keep))
    sys.stdout.write(report(figures) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False) + "\n")
    return 0 if ok(figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
