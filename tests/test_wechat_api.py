"""The WeChat server API client against the fake WeChat API: token cache, refresh, errors."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.ledger import Ledger
from adapters.wechat.outbox import Outbox
from adapters.wechat.parse import Inbound
from adapters.wechat.record import Timing
from adapters.wechat.settings import WeChatSettings
from bot.app import ADAPTERS
from bot.config import Secret
from bot.storage.memory import MemoryStorage
from tests.conftest import StartService
from tests.fakes.wechat import APP_ID, APP_SECRET, FakeWeChatAPI, start_wechat, wechat_api


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChatAPI]:
    async with wechat_api() as api:
        yield api


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(fake: FakeWeChatAPI, http: aiohttp.ClientSession, storage: MemoryStorage | None = None,
           secret: str = APP_SECRET, stable: bool = True) -> WeChatAPI:
    return WeChatAPI(http, storage or MemoryStorage(), fake.url, APP_ID, secret, stable)


async def test_token_is_cached_in_storage_across_clients(fake: FakeWeChatAPI,
                                                         http: aiohttp.ClientSession) -> None:
    storage = MemoryStorage()  # two instances sharing one storage
    await client(fake, http, storage).send_text("o1", "a")
    await client(fake, http, storage).send_text("o1", "b")
    assert len(fake.calls("/cgi-bin/stable_token")) == 1


async def test_stale_token_is_refreshed_once_and_the_call_retried(fake: FakeWeChatAPI,
                                                                  http: aiohttp.ClientSession) -> None:
    api = client(fake, http)
    await api.send_text("o1", "a")
    fake.expire_tokens()
    await api.send_text("o1", "b")
    assert [m["text"]["content"] for m in fake.sent] == ["a", "b"]
    assert len(fake.calls("/cgi-bin/stable_token")) == 2


async def test_classic_token_endpoint_when_configured(fake: FakeWeChatAPI,
                                                      http: aiohttp.ClientSession) -> None:
    await client(fake, http, stable=False).send_text("o1", "a")
    assert fake.calls("/cgi-bin/token")[0][2]["grant_type"] == "client_credential"


async def test_wrong_secret_is_an_error_with_its_meaning(fake: FakeWeChatAPI,
                                                         http: aiohttp.ClientSession) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await client(fake, http, secret="wrong").token()
    assert caught.value.code == 40125
    assert "WECHAT_APP_SECRET" in caught.value.meaning


async def test_media_download_returns_bytes_and_type(fake: FakeWeChatAPI,
                                                     http: aiohttp.ClientSession) -> None:
    fake.media["m1"] = (b"abc", "image/jpeg")
    assert await client(fake, http).download_media("m1") == (b"abc", "image/jpeg")


async def test_media_error_in_a_200_text_body_is_detected(fake: FakeWeChatAPI,
                                                          http: aiohttp.ClientSession) -> None:
    with pytest.raises(WeChatAPIError) as caught:
        await client(fake, http).download_media("missing")
    assert caught.value.code == 40007


async def test_customer_service_refusal_is_logged_with_its_meaning_and_handed_over(
    fake: FakeWeChatAPI, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    fake.send_errors.append(45015)
    storage = MemoryStorage()
    settings = WeChatSettings(token="t", app_id=APP_ID, app_secret=Secret(APP_SECRET),
                              customer_service=True)
    ledger = Ledger(storage, Timing(lease=20, retries_over=24), True, record_ttl=900, queue_ttl=60)
    msg = Inbound("text", "", "o1", "gh_x", "m1", text="q")
    token = "maker-1"
    await ledger.arrive(msg, token, patience=1)
    rec, _ = await ledger.made(msg, token, lambda handed: ("the answer",))
    assert rec is not None
    late = await ledger.claim(msg, token, "deliver_late")
    assert late is None  # not due yet: nobody gave up and WeChat may still retry
    ledger.clock = lambda: time.time() + 30  # the retries are over
    late = await ledger.claim(msg, "late-1", "deliver_late")
    assert late is not None
    with caplog.at_level(logging.WARNING):
        await Outbox(settings, ledger, client(fake, http, storage)).deliver_late(msg, late, "late-1")
    assert "has not written in 48 h" in caplog.text
    rec, _ = await ledger.read(msg)
    assert rec is not None
    assert rec.state == "handed"
    [handed] = await storage.read_docs(["wechat:{gh_x/o1}:handover"])
    assert handed.value is not None
    assert json.loads(handed.value) == [{"key": "m1", "parts": ["the answer"]}]


async def test_check_reports_the_token_fetch(start_service: StartService, fake: FakeWeChatAPI) -> None:
    pusher = await start_wechat(start_service, api=fake)
    adapter = next(a for a in pusher.service.server.app[ADAPTERS] if a.name == "wechat")
    [check] = await adapter.check()
    assert check.ok
