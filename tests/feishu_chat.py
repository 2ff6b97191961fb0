"""The service with only the Feishu adapter, on the fake Feishu: start it, send it events, read replies."""

from __future__ import annotations

import json
from typing import Any

from adapters import feishu
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import (
    ENCRYPT_KEY,
    FakeFeishu,
    encrypted_request,
    feishu_env,
    message_event,
    post_event,
    settle,
)
from tests.fakes.openai import FakeOpenAI


async def start(start_service: StartService, fake: FakeFeishu, vision: bool = False,
                **feishu_config: Any) -> RunningService:
    """The Feishu adapter alone, fast retries and card updates, `llm.vision` on or off."""
    config = base_config(feishu={"retry_backoff": 0.01, "card_updates_per_second": 5, **feishu_config},
                         llm={"vision": vision})
    return await start_service(config=config, env=feishu_env(fake), adapters=[feishu.create])


async def send(service: RunningService, event: dict[str, Any], key: str = ENCRYPT_KEY,
               path: str = "/feishu/events") -> None:
    """Post `event` encrypted with `key`, expect a 200, and wait until its background work is done."""
    body, headers = encrypted_request(event, key=key)
    status, _ = await post_event(service.http, service.url, body, headers, path=path)
    assert status == 200
    await settle(service.services.tasks)


def last_user_content(fake_openai: FakeOpenAI) -> Any:
    """The content of the user message in the model's latest call."""
    return fake_openai.chat_calls[-1]["messages"][-1]["content"]


def final_card_text(fake: FakeFeishu) -> str:
    """The text the streaming card was last set to."""
    return str(fake.ops("card_content")[-1].body["content"])


def replies(fake: FakeFeishu) -> list[tuple[str, Any]]:
    """(msg_type, decoded content) of every reply, in order."""
    return [(c.body["msg_type"], json.loads(c.body["content"])) for c in fake.ops("reply")]


def audio_event(message_id: str = "om_voice") -> dict[str, Any]:
    """A p2p voice message whose file the fake serves as `file_v3_voice`."""
    return message_event(message_type="audio", content={"file_key": "file_v3_voice", "duration": 2000},
                         message_id=message_id)
