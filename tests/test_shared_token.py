"""The platform token every instance shares (bot/tokens.py), on memory and on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.storage import MemoryStorage, RedisStorage, Storage
from bot.tokens import SharedToken


class Platform:
    """Issues token-1, token-2, ... and counts the fetches (slowly, like a real platform)."""

    def __init__(self, delay: float = 0.05) -> None:
        self.fetches = 0
        self.delay = delay

    async def fetch(self) -> tuple[str, float]:
        self.fetches += 1
        number = self.fetches
        await asyncio.sleep(self.delay)
        return f"token-{number}", 7000.0


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    store: Storage = (MemoryStorage() if request.param == "memory"
                      else RedisStorage(request.getfixturevalue("redis_url"), prefix="token-test:"))
    yield store
    await store.close()


def instances(storage: Storage, platform: Platform, count: int = 2) -> list[SharedToken]:
    return [SharedToken(storage, "wechat:token:app", platform.fetch, "test token")
            for _ in range(count)]


async def test_instances_share_one_fetched_token(storage: Storage) -> None:
    platform = Platform()
    first, second = instances(storage, platform)
    assert await first.get() == await second.get() == "token-1"
    assert platform.fetches == 1


async def test_instances_fetching_at_once_fetch_once(storage: Storage) -> None:
    platform = Platform(delay=0.3)
    tokens = await asyncio.gather(*(t.get() for t in instances(storage, platform, 4)))
    assert tokens == ["token-1"] * 4
    assert platform.fetches == 1


async def test_a_rejected_token_is_replaced_once_for_every_instance(storage: Storage) -> None:
    platform = Platform(delay=0.3)
    first, second = instances(storage, platform)
    stale = await first.get()
    assert await second.get() == stale
    fresh = list(await asyncio.gather(first.refresh(stale), second.refresh(stale)))
    assert fresh == ["token-2", "token-2"]
    assert platform.fetches == 2


async def test_a_refresh_takes_the_token_another_instance_already_fetched(storage: Storage) -> None:
    platform = Platform()
    first, second = instances(storage, platform)
    stale = await first.get()
    await second.get()
    assert await second.refresh(stale) == "token-2"
    assert await first.refresh(stale) == "token-2"  # its memo said token-1; storage knows better
    assert platform.fetches == 2


async def test_an_instance_fetches_itself_when_the_refresher_does_not_finish(
        storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.tokens.LEASE", 0.3)
    platform = Platform()
    await storage.claim("wechat:token:app:refreshing", 60)  # an instance that died mid-fetch
    [token] = instances(storage, platform, 1)
    assert await token.get() == "token-1"
    assert platform.fetches == 1


async def test_without_storage_each_process_fetches_for_itself() -> None:
    unreachable = RedisStorage("redis://127.0.0.1:1/0", prefix="token-test:")
    platform = Platform()
    try:
        [token] = instances(unreachable, platform, 1)
        assert await token.get() == "token-1"
        assert await token.get() == "token-1"  # kept in memory meanwhile
        assert platform.fetches == 1
    finally:
        await unreachable.close()
