"""A full run at DEBUG with every secret configured: no secret in the logs or any answer.

One `serve` process with distinctive values for every secret (LLM key, API keys, WeChat and
Feishu credentials, a password-protected Redis), driven through successes and every kind of
failure: LLM 401/429/500, platform API errors, bad keys and signatures. Then its whole output
and every HTTP answer are searched for each secret.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import feishu, wechat
from tests.fakes.openai import FakeOpenAI
from tests.fleet import FeishuServer, Fleet, fleet_config, service_env
from tests.fleet import start_feishu as start_fake_feishu
from tests.procs import ServeProcess
from tests.redis_proc import RedisProcess, free_port

SECRETS = {
    "OPENAI_API_KEY": "sk-proj-S3cr3tUpstreamKey0001",
    "BOT_API_KEYS": "bot-S3cr3tApiKey0002",
    "WECHAT_APP_SECRET": "wxS3cr3tAppSecret0003",
    "WECHAT_ENCODING_AES_KEY": "S3cr3tAesKey0004abcdefghijklmnopqrstuvwxyz0",
    "WECHAT_TOKEN": "wxS3cr3tToken0005",
    "FEISHU_APP_SECRET": "fsS3cr3tAppSecret0006",
    "FEISHU_ENCRYPT_KEY": "fsS3cr3tEncryptKey0007",
    "FEISHU_VERIFICATION_TOKEN": "fsS3cr3tVerifyToken0008",
}
REDIS_PASSWORD = "rdS3cr3tPassword0009"


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[str]:
    """A private redis-server that requires a password; its URL carries the password."""
    server = RedisProcess(tmp_path)
    server.port = free_port()
    server.proc = subprocess.Popen(
        [server.binary, "--port", str(server.port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--requirepass", REDIS_PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"redis://:{REDIS_PASSWORD}@127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
async def platforms(monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[tuple[wechat.FakeWeChatAPI, FeishuServer]]:
    """The fake WeChat and Feishu APIs, accepting this test's secrets."""
    monkeypatch.setattr(wechat, "APP_SECRET", SECRETS["WECHAT_APP_SECRET"])
    monkeypatch.setattr(feishu, "APP_SECRET", SECRETS["FEISHU_APP_SECRET"])
    monkeypatch.setattr(feishu, "TOKEN", SECRETS["FEISHU_VERIFICATION_TOKEN"])
    fake_feishu = await start_fake_feishu()
    async with wechat.wechat_api() as api:
        yield api, fake_feishu
    assert fake_feishu.server is not None
    await fake_feishu.server.close()


class Recorder:
    """Every answer body the service gave."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url, self.bodies = http, url, list[str]()

    async def post(self, path: str, **kwargs: object) -> int:
        async with self.http.post(self.url + path, **kwargs) as response:  # type: ignore[arg-type]
            self.bodies.append(await response.text(errors="replace"))
            return response.status


async def drive(service: Recorder, fake_openai: FakeOpenAI, api: wechat.FakeWeChatAPI,
                fake_feishu: FeishuServer) -> None:
    """Successes and every kind of failure, through every endpoint."""
    good = {"Authorization": f"Bearer {SECRETS['BOT_API_KEYS']}"}
    chat = {"user": "alice", "text": "hello"}
    fake_openai.fail_next = [401, 429, 500, 503]
    for _ in range(5):  # four LLM errors, then an answer
        await service.post("/api/chat", json=chat, headers=good)
    fake_openai.fail_next = [401]
    relay = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    await service.post("/v1/chat/completions", json=relay, headers=good)
    await service.post("/v1/chat/completions", json=relay, headers=good)
    for bad in ("Bearer wrong", "Basic abc", ""):
        await service.post("/api/chat", json=chat, headers={"Authorization": bad})
    pusher = wechat.WeChatPusher(service.url, mode="safe", token=SECRETS["WECHAT_TOKEN"],
                                 aes_key=SECRETS["WECHAT_ENCODING_AES_KEY"], http=service.http)
    query, body = pusher.sign_push(wechat.text_xml("wechat hello", msg_id=1))
    await service.post("/wechat", params=query, data=body)
    await service.post("/wechat", params={**query, "signature": "0" * 40}, data=body)
    await service.post("/wechat", params={**query, "msg_signature": "0" * 40}, data=body)
    api.send_errors = [40001, 45015]  # a stale token, then a refused customer-service send
    fake_openai.latency = 1.5
    query, body = pusher.sign_push(wechat.text_xml("wechat slow", msg_id=2))
    await service.post("/wechat", params=query, data=body)
    fake_openai.latency = 0
    fake_feishu.fail_next = {"create_card": [230020], "reply": [99991400]}
    key = SECRETS["FEISHU_ENCRYPT_KEY"]
    for sign_key in (key, "wrong"):
        body_bytes, headers = feishu.encrypted_request(feishu.message_event("feishu hello"), key=key,
                                                       sign_key=sign_key)
        await service.post("/feishu/events", data=body_bytes, headers=headers)
    await fake_feishu.wait_for(lambda f: len(f.ops("reply")) >= 2, 30)


async def test_no_secret_appears_in_logs_or_answers(
    tmp_path: Path, fake_openai: FakeOpenAI, secured_redis: str,
    platforms: tuple[wechat.FakeWeChatAPI, FeishuServer],
) -> None:
    api, fake_feishu = platforms
    env = {**service_env(fake_openai, secured_redis, wechat_api=api.url, feishu_url=fake_feishu.url),
           **SECRETS, "BOT_LOG_LEVEL": "DEBUG"}
    env.update(WECHAT_CUSTOMER_SERVICE="true")
    config = fleet_config(wechat={"deadline": 0.4, "hold": 0.5, "attempts": 1})
    async with aiohttp.ClientSession() as http:
        fleet = Fleet(tmp_path, http)
        try:
            proc: ServeProcess = await fleet.start("secrets", config, env)
            service = Recorder(http, proc.url)
            await drive(service, fake_openai, api, fake_feishu)
            await asyncio.sleep(1.0)  # the late WeChat delivery and its fall-back
            for path in ("/healthz", "/metrics"):
                async with http.get(proc.url + path) as response:
                    service.bodies.append(await response.text())
        finally:
            await fleet.close()
    output = proc.log() + "\n".join(service.bodies)
    assert "DEBUG" in output
    assert len(fake_openai.chat_calls) >= 6
    found = {name for name, value in {**SECRETS, "REDIS_PASSWORD": REDIS_PASSWORD}.items()
             if value in output}
    assert found == set()
