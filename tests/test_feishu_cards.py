"""Streaming replies: thinking card, CardKit updates within the rate bound, fallbacks, errors, retries."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from typing import Any

import aiohttp
import pytest

from adapters import feishu
from adapters.feishu.api import FeishuAPI
from adapters.feishu.cards import CardReplier
from adapters.feishu.parse import parse_message
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.token import TenantToken
from bot.config import Secret
from bot.messages import Reply
from bot.storage.memory import MemoryStorage
from bot.texts import Texts
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import (
    APP_ID,
    APP_SECRET,
    FakeFeishu,
    encrypted_request,
    feishu_env,
    message_event,
    post_event,
    settle,
)
from tests.fakes.openai import FakeOpenAI


async def start(start_service: StartService, fake: FakeFeishu, **feishu_config: Any) -> RunningService:
    config = base_config(feishu={"retry_backoff": 0.01, "card_updates_per_second": 5, **feishu_config})
    return await start_service(config=config, env=feishu_env(fake), adapters=[feishu.create])


async def send(service: RunningService, text: str = "hello") -> None:
    body, headers = encrypted_request(message_event(text))
    assert (await post_event(service.http, service.url, body, headers))[0] == 200
    await settle(service.services.tasks)


def contents(fake: FakeFeishu) -> list[str]:
    return [str(c.body["content"]) for c in fake.ops("card_content")]


async def test_thinking_card_is_replied_before_any_answer_text(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service)
    first, reply = fake_feishu.ops("create_card", "reply")[:2]
    card = json.loads(first.body["data"])
    assert card["body"]["elements"][0]["content"] == "Thinking…"
    assert card["config"]["streaming_mode"] is True
    assert json.loads(reply.body["content"])["data"]["card_id"].startswith("card_")


async def test_card_updates_end_with_the_full_answer_and_streaming_off(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "**Answer**: " + "word " * 40
    service = await start(start_service, fake_feishu)
    await send(service)
    sequences = [c.body["sequence"] for c in fake_feishu.ops("card_content", "card_settings")]
    assert contents(fake_feishu)[-1] == ("**Answer**: " + "word " * 40).strip()
    assert sequences == sorted(set(sequences))
    assert fake_feishu.calls[-1].op == "card_settings"
    assert json.loads(fake_feishu.calls[-1].body["settings"]) == {"config": {"streaming_mode": False}}


async def test_reasoning_never_reaches_the_card(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "<think>private chain of thought</think>The answer."
    service = await start(start_service, fake_feishu)
    await send(service)
    assert contents(fake_feishu)[-1] == "The answer."
    assert not any("private" in text for text in contents(fake_feishu))


async def test_without_cardkit_a_message_card_is_patched(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.fail_next["create_card"] = [99991672]
    service = await start(start_service, fake_feishu)
    await send(service)
    card = json.loads(fake_feishu.ops("patch")[-1].body["content"])
    assert card["config"]["update_multi"] is True
    assert card["elements"][0]["content"] == "You said: hello"


async def test_when_no_card_can_be_sent_the_answer_is_plain_text(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.fail_next.update(create_card=[230099], reply=[230099])
    service = await start(start_service, fake_feishu)
    await send(service)
    last = fake_feishu.ops("reply")[-1].body
    assert (last["msg_type"], json.loads(last["content"])) == ("text", {"text": "You said: hello"})


async def test_answer_too_large_for_a_card_goes_out_as_posts(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    long_answer = "\n\n".join(f"Paragraph {i}: " + "x" * 300 for i in range(8))
    fake_openai.reply = lambda body: long_answer
    service = await start(start_service, fake_feishu, max_card_bytes=1000)
    await send(service)
    posts = [json.loads(c.body["content"]) for c in fake_feishu.ops("reply") if c.body["msg_type"] == "post"]
    text = "\n\n".join(p["zh_cn"]["content"][0][0]["text"] for p in posts)
    assert (len(posts) > 0, text) == (True, long_answer)


async def test_more_than_five_tables_go_out_as_a_post(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "\n\n".join("| a | b |\n|---|---|\n| 1 | 2 |" for _ in range(6))
    service = await start(start_service, fake_feishu)
    await send(service)
    assert [c.body["msg_type"] for c in fake_feishu.ops("reply")] == ["interactive", "post"]


async def test_error_mid_stream_ends_the_card_with_the_friendly_line(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.midstream_error = "upstream exploded"
    service = await start(start_service, fake_feishu)
    await send(service)
    final = contents(fake_feishu)[-1]
    assert final.endswith(Texts().get("error_llm_server")) or final.endswith(Texts().get("error_upstream"))
    assert "exploded" not in final


async def test_commands_are_answered_as_text_without_a_card(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, "/help")
    assert [c.body["msg_type"] for c in fake_feishu.ops("reply")] == ["text"]


async def test_rate_limited_reply_is_retried(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.fail_next["reply"] = [99991400, 11232]
    service = await start(start_service, fake_feishu)
    await send(service)
    assert len(fake_feishu.ops("reply")) == 3
    assert contents(fake_feishu)[-1] == "You said: hello"


async def test_rejected_token_is_refreshed_once(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.fail_next["create_card"] = [99991663]
    service = await start(start_service, fake_feishu)
    await send(service)
    assert (len(fake_feishu.ops("token")), len(fake_feishu.ops("create_card"))) == (2, 2)


async def test_api_errors_are_logged_with_code_and_meaning(
    start_service: StartService, fake_feishu: FakeFeishu, caplog: pytest.LogCaptureFixture
) -> None:
    fake_feishu.fail_next.update(create_card=[230002], reply=[230002, 230002])
    service = await start(start_service, fake_feishu)
    with caplog.at_level(logging.WARNING, logger="adapters.feishu"):
        await send(service)
    assert "code=230002 (the bot is not in this chat)" in caplog.text


async def test_streaming_updates_respect_the_rate_bound(fake_feishu: FakeFeishu) -> None:
    settings = FeishuSettings(APP_ID, Secret(APP_SECRET), base_url=fake_feishu.url,
                              card_updates_per_second=4)
    message = parse_message(message_event("hi"))
    assert message is not None
    async with aiohttp.ClientSession() as http:
        api = FeishuAPI(settings, http, TenantToken(settings, http, MemoryStorage()))
        # Timed where the updates leave (arrival times at the fake jitter under load).
        times: list[float] = []
        card_text = api.card_text

        async def timed_card_text(*args: Any, **kwargs: Any) -> None:
            times.append(time.monotonic())
            await card_text(*args, **kwargs)

        api.card_text = timed_card_text  # type: ignore[method-assign]
        replier = CardReplier(api, message, settings)
        await replier.started()
        for _ in range(40):  # about a second of tokens
            await replier.delta("tok ")
            await asyncio.sleep(0.025)
        await replier.send(Reply(("tok " * 40).strip()))
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) >= 3
    assert min(gaps) >= 0.25 - 0.005
    assert contents(fake_feishu)[-1] == ("tok " * 40).strip()
