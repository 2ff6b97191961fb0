"""Shared fixtures: a private redis-server, the fake OpenAI server, a running service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters import ENABLED
from bot.app import build_app, make_adapters
from bot.core import Core, close_core, create_core
from bot.platform import AdapterFactory, Services
from bot.settings import Settings, load
from tests.fakes.feishu import FakeFeishu, start_fake
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LoopbackServer
from tests.fakes.wechat import FakeWeChatAPI, wechat_api
from tests.redis_proc import RedisProcess
from tests.redis_topologies import Cluster, SentinelGroup

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bot-test-key-1"
UPSTREAM_KEY = "sk-upstream-secret-123"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One private redis-server for the whole run."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """The private server, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A private 3-master Redis Cluster for the whole run."""
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster: Cluster) -> str:
    """`redis+cluster://` seeds of the private cluster, emptied for this test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture(scope="session")
def redis_sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """A private master, replica and 3 sentinels for the whole run (tests must not fail it over)."""
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    group.start()
    yield group
    group.stop()


@pytest.fixture(params=["standalone", "cluster"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """A standalone Redis, then a Redis Cluster: the same test on both topologies."""
    name = "redis_url" if request.param == "standalone" else "cluster_url"
    return str(request.getfixturevalue(name))


@asynccontextmanager
async def serving_fake_openai() -> AsyncIterator[FakeOpenAI]:
    """The fake OpenAI API on a free port, closed on exit."""
    fake = FakeOpenAI()
    fake.server = await LoopbackServer(fake.app()).start()
    try:
        yield fake
    finally:
        await fake.server.close()


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """The fake OpenAI API on a free port."""
    async with serving_fake_openai() as fake:
        yield fake


@pytest.fixture
async def fake_feishu() -> AsyncIterator[FakeFeishu]:
    """The fake Feishu Open API on a free port."""
    fake = await start_fake()
    yield fake
    assert fake.server is not None
    await fake.server.close()


@pytest.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChatAPI]:
    """The fake WeChat server API on a free port."""
    async with wechat_api() as api:
        yield api


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Any]:
    """Real `python -m bot serve` processes (tests/fleet.py), stopped at the end of the test."""
    from tests.fleet import Fleet  # fleet.py imports this module's constants

    async with aiohttp.ClientSession() as http:
        running = Fleet(tmp_path, http)
        try:
            yield running
        finally:
            await running.close()


def write_settings(tmp_path: Path, config: dict[str, Any], env: dict[str, str]) -> Settings:
    """Settings from a YAML dict and an explicit environment (never the real one)."""
    path = tmp_path / f"config-{len(list(tmp_path.glob('config-*.yaml')))}.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return load(path, env)


def base_config(**sections: Any) -> dict[str, Any]:
    """Test defaults: no SDK retries, short timeouts, the repository's presets."""
    config: dict[str, Any] = {
        "llm": {"max_retries": 0, "timeout": 10},
        "prompts": {"dir": str(ROOT / "prompts"), "default": "assistant"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    return config


@dataclass
class RunningService:
    """A service on a loopback port, with an HTTP session to talk to it."""

    core: Core
    server: LoopbackServer
    http: aiohttp.ClientSession

    @property
    def services(self) -> Services:
        """What the adapters were handed."""
        return self.core.services

    @property
    def url(self) -> str:
        return self.server.url

    def auth(self, key: str = API_KEY) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    async def close(self) -> None:
        await self.http.close()
        await self.server.close()


StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def start_service(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> AsyncIterator[StartService]:
    """Start services on demand: `await start_service(config=..., env=..., adapters=...)`."""
    async with service_starter(fake_openai, tmp_path) as start:
        yield start


@asynccontextmanager
async def service_starter(fake_openai: FakeOpenAI, tmp_path: Path) -> AsyncIterator[StartService]:
    """`start_service`'s body: every service it started is closed on exit."""
    running: list[RunningService] = []

    async def start(
        config: dict[str, Any] | None = None, env: dict[str, str] | None = None,
        adapters: Sequence[AdapterFactory] = ENABLED,
    ) -> RunningService:
        environment = {"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_BASE_URL": fake_openai.url,
                       "BOT_API_KEYS": API_KEY, **(env or {})}
        settings = write_settings(tmp_path, config or base_config(), environment)
        core = await create_core(settings)
        try:
            built = make_adapters(core.services, adapters)
        except BaseException:  # a config error in an adapter: release what was opened
            await close_core(core, 0)
            raise
        app = build_app(core, built, drain_seconds=5)
        service = RunningService(core, await LoopbackServer(app).start(),
                                 aiohttp.ClientSession())
        running.append(service)
        return service

    try:
        yield start
    finally:
        for service in running:
            await service.close()
