"""Several `python -m bot serve` processes on one Redis, and platform drivers that count deliveries.

`Fleet` starts and stops the processes; `FeishuServer` is the fake Feishu with its one-message-
per-uuid rule; `deliver_wechat` plays WeChat's retries (alternating instances, skipping dead ones).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import API_KEY, UPSTREAM_KEY, base_config
from tests.fakes import feishu, wechat
from tests.fakes.openai import FakeOpenAI
from tests.procs import ServeProcess

NO_LIMITS = {"per_user_per_minute": 0, "per_user_per_day": 0}


def fleet_config(claim_idle: float = 60.0, storage: dict[str, Any] | None = None,
                 **sections: Any) -> dict[str, Any]:
    """Test defaults for a subprocess: no abuse limits, short drain-friendly timings."""
    return base_config(limits=NO_LIMITS, storage={"job_claim_idle": claim_idle, **(storage or {})},
                       **sections)


def service_env(fake_openai: FakeOpenAI, redis_url: str = "", *, wechat_api: str = "",
                feishu_url: str = "", llm_key: str = UPSTREAM_KEY) -> dict[str, str]:
    """The environment of one instance: the fake LLM, Redis, and the platforms that are on."""
    env = {"OPENAI_API_KEY": llm_key, "OPENAI_BASE_URL": fake_openai.url, "BOT_API_KEYS": API_KEY}
    if redis_url:
        env["REDIS_URL"] = redis_url
    if wechat_api:
        env.update(WECHAT_TOKEN=wechat.TOKEN, WECHAT_APP_ID=wechat.APP_ID,
                   WECHAT_APP_SECRET=wechat.APP_SECRET, WECHAT_ENCODING_AES_KEY=wechat.AES_KEY,
                   WECHAT_API_BASE=wechat_api, WECHAT_CUSTOMER_SERVICE="true")
    if feishu_url:
        env.update(FEISHU_APP_ID=feishu.APP_ID, FEISHU_APP_SECRET=feishu.APP_SECRET,
                   FEISHU_VERIFICATION_TOKEN=feishu.TOKEN, FEISHU_ENCRYPT_KEY=feishu.ENCRYPT_KEY,
                   FEISHU_BASE_URL=feishu_url)
    return env


class Fleet:
    """The processes of one test; `close` ends every one it started (by pid)."""

    def __init__(self, workdir: Path, http: aiohttp.ClientSession) -> None:
        self.workdir = workdir
        self.http = http
        self.procs: list[ServeProcess] = []

    async def start(self, name: str, config: dict[str, Any], env: dict[str, str]) -> ServeProcess:
        proc = ServeProcess(self.workdir, name, config, env)
        self.procs.append(proc)
        return await proc.start(self.http)

    def alive(self) -> list[ServeProcess]:
        return [p for p in self.procs if p.alive()]

    async def close(self) -> None:
        """SIGTERM every process at once, then wait for each (bounded)."""
        for proc in self.alive():
            assert proc.popen is not None
            proc.popen.terminate()
        for proc in self.procs:
            await proc.terminate(within=10)


class FeishuServer(feishu.FakeFeishu):
    """The fake Feishu Open API, plus Feishu's rule that a reply `uuid` makes one message only."""

    def __init__(self) -> None:
        super().__init__()
        self.by_uuid: dict[str, str] = {}

    def _message(self, call: feishu.Call, request: web.Request) -> web.Response:
        uuid = str(call.body.get("uuid") or "")
        if uuid and uuid in self.by_uuid:  # a repeat within the hour: the same message, not a new one
            return web.json_response({"code": 0, "msg": "success", "data": {
                "message_id": self.by_uuid[uuid], "msg_type": call.body.get("msg_type")}})
        response = super()._message(call, request)
        if uuid:
            self.by_uuid[uuid] = json.loads(response.text or "{}")["data"]["message_id"]
        return response

    def messages_for(self, message_id: str) -> set[str]:
        """Distinct messages the user sees in answer to `message_id` (one per reply uuid)."""
        return {str(c.body.get("uuid")) for c in self.ops("reply")
                if c.path.endswith(f"/{message_id}/reply")}

    def final_text(self, message_id: str) -> str:
        """Everything written into the messages the user sees for `message_id` and their cards."""
        replies, seen = [], set()
        for call in self.ops("reply"):  # only the first reply of a uuid made a message
            if call.path.endswith(f"/{message_id}/reply") and call.body.get("uuid") not in seen:
                seen.add(call.body.get("uuid"))
                replies.append(call)
        cards = {json.loads(c.body.get("content", "{}")).get("data", {}).get("card_id")
                 for c in replies}
        texts = [str(c.body.get("content", "")) for c in replies]
        texts += [str(c.body.get("content", "")) for c in self.ops("card_content")
                  if c.path.split("/")[5] in cards]
        shown = {self.by_uuid.get(str(c.body.get("uuid"))) for c in replies}
        texts += [str(c.body.get("content", "")) for c in self.ops("patch")
                  if c.path.rsplit("/", 1)[1] in shown]
        return "\n".join(texts)


async def start_feishu() -> FeishuServer:
    from tests.fakes.server import LoopbackServer

    fake = FeishuServer()
    fake.server = await LoopbackServer(fake.app()).start()
    return fake


async def post_feishu(http: aiohttp.ClientSession, url: str, payload: dict[str, Any]
                      ) -> tuple[int, Any]:
    """One signed, encrypted callback delivery; (status, JSON answer), (0, None) when unreachable."""
    body, headers = feishu.encrypted_request(payload)
    try:
        return await feishu.post_event(http, url, body, headers)
    except aiohttp.ClientError:
        return 0, None


async def deliver_wechat(pusher: wechat.WeChatPusher, xml: str, instances: Sequence[ServeProcess],
                         ) -> list[wechat.Reply]:
    """WeChat's delivery of one message: up to `attempts` tries, each to the next live instance.

    Returns the answers WeChat read (at most one: it stops at the first answered try).
    """
    query, body = pusher.sign_push(xml)
    for attempt in range(pusher.attempts):
        live = [p for p in instances if p.alive()] or list(instances)
        target = live[attempt % len(live)]
        try:
            reply = await pusher.post(query, body, url=target.url)
        except aiohttp.ClientError:  # the instance died with the connection open: WeChat retries
            reply = None
        if reply is not None:
            return [reply]
    return []


def calls_for(fake_openai: FakeOpenAI, text: str) -> int:
    """LLM calls whose last message is `text`."""
    return sum(1 for body in fake_openai.chat_calls if body["messages"][-1]["content"] == text)
