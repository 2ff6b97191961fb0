"""A `serve` subprocess for property-based tests: a sync client, the fake LLM on a thread, RSS.

Hypothesis drives synchronous test functions, so the fake OpenAI runs on its own event loop in
a thread and requests go out with `requests` (a client timeout is how a hang shows up).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import requests
from hypothesis import HealthCheck, settings

from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LoopbackServer
from tests.fleet import fleet_config, service_env
from tests.procs import ServeProcess

CLIENT_TIMEOUT = 10.0  # a request still unanswered after this is a hang
RSS_GROWTH_KIB = 128 * 1024  # generous: what a leak over the run would blow through
FUZZ = settings(max_examples=500, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


@dataclass
class FuzzTarget:
    """The running service, a session to it, and the RSS it settled at before the fuzzing."""

    proc: ServeProcess
    session: requests.Session
    rss_before: int
    tried: list[int] = field(default_factory=list, repr=False)

    def post(self, path: str, data: bytes, headers: dict[str, str] | None = None,
             params: dict[str, str] | None = None) -> requests.Response:
        """One request; counts it."""
        self.tried.append(1)
        return self.session.post(self.proc.url + path, data=data, headers=headers or {},
                                 params=params or {}, timeout=CLIENT_TIMEOUT)


def check_refused(response: requests.Response, allowed_ok: bool = False) -> None:
    """The property: a 4xx with a readable body (or 200 where valid input is possible), no 5xx."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if not allowed_ok:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.text.strip(), "an error answer without a body"


class _LoopThread:
    """An event loop in a daemon thread, hosting the fake LLM."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _start_fake() -> FakeOpenAI:
    fake = FakeOpenAI()
    fake.server = await LoopbackServer(fake.app()).start()
    return fake


async def _start_proc(proc: ServeProcess) -> None:
    async with aiohttp.ClientSession() as http:
        await proc.start(http)


async def _stop(fake: FakeOpenAI, proc: ServeProcess) -> None:
    await proc.terminate(within=10)
    assert fake.server is not None
    await fake.server.close()


@contextmanager
def fuzz_target(workdir: Path, env: dict[str, str], **sections: Any) -> Iterator[FuzzTarget]:
    """A serve process (memory storage, the fake LLM, `env` for the platform) to fuzz."""
    thread = _LoopThread()
    fake: FakeOpenAI = thread.run(_start_fake())
    proc = ServeProcess(workdir, "fuzz", fleet_config(**sections), {**service_env(fake), **env})
    try:
        thread.run(_start_proc(proc))
        with requests.Session() as session:
            session.get(proc.url + "/healthz", timeout=CLIENT_TIMEOUT)  # warm the first request
            yield FuzzTarget(proc, session, proc.rss_kib())
    finally:
        thread.run(_stop(fake, proc))
        thread.stop()
