"""Redis connections held by `serve` instances: idle, and with 1,024 WeChat messages in flight.

Starts a private redis-server, the fake LLM and two instances with WeChat on. Every message's
first delivery goes to instance A and its retry to instance B, and the answer takes longer than
WeChat's 5 s: so B holds 1,024 deliveries waiting for answers being made on A (the case where a
blocking wait per delivery would hold a connection each). `INFO clients` is sampled meanwhile
(connected clients, minus this script's own). Run from any checkout to compare versions:

    python -m bench.connections [--messages 1024] [--latency 7.0] [--tree PATH]

`--tree` runs the `serve` of another checkout (e.g. an older commit) against the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from tests.fakes import wechat
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LoopbackServer
from tests.fleet import fleet_config, service_env
from tests.procs import ServeProcess
from tests.redis_proc import RedisProcess


async def clients(redis: aioredis.Redis) -> int:
    """Connected clients, not counting the one asking."""
    info: Any = await redis.info("clients")
    return int(info["connected_clients"]) - 1


async def sample(redis: aioredis.Redis, until: asyncio.Future[None], into: list[int]) -> None:
    while not until.done():
        into.append(await clients(redis))
        await asyncio.sleep(0.1)


async def measure(messages: int, latency: float, tree: Path | None) -> dict[str, Any]:
    """The figures of one run."""
    with tempfile.TemporaryDirectory(prefix="conns-") as folder:
        work = Path(folder)
        server = RedisProcess(work)
        server.start()
        llm = FakeOpenAI(latency=latency)
        llm.server = await LoopbackServer(llm.app()).start()
        redis = aioredis.Redis.from_url(server.url, decode_responses=True)
        try:
            async with wechat.wechat_api() as api, aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0)) as http:
                config = fleet_config(llm={"max_concurrency": 4096, "timeout": 60})
                procs = [ServeProcess(work, name, config, service_env(llm, server.url,
                                                                      wechat_api=api.url))
                         for name in ("a", "b")]
                for proc in procs:
                    if tree is not None:
                        proc.root = tree
                    await proc.start(http)
                await asyncio.sleep(2.0)  # settled: the job consumers and the feeds are up
                idle = await clients(redis)
                pusher = wechat.WeChatPusher(procs[0].url, http=http, timeout=5.0,  # WeChat's 5 s
                                             alternates=[procs[1].url])
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                seen: list[int] = []
                watcher = asyncio.create_task(sample(redis, done, seen))
                started = time.monotonic()
                replies = await asyncio.gather(*(
                    pusher.push(wechat.text_xml(f"load {n}", msg_id=50_000 + n, openid=f"o{n}"))
                    for n in range(messages)))
                done.set_result(None)
                await watcher
                answered = sum(1 for reply, _ in replies if reply and reply.content)
                for proc in procs:
                    await proc.terminate()
        finally:
            await redis.aclose()
            await llm.server.close()
            server.stop()
    return {"instances": 2, "messages": messages, "latency": latency, "idle": idle,
            "peak": max(seen, default=0),
            "answered": answered, "seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str]) -> int:
    """`python -m bench.connections`."""
    parser = argparse.ArgumentParser(prog="python -m bench.connections")
    parser.add_argument("--messages", type=int, default=1024)
    parser.add_argument("--latency", type=float, default=7.0)
    parser.add_argument("--tree", type=Path, help="run the serve of this checkout instead")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.messages, args.latency, args.tree))
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
