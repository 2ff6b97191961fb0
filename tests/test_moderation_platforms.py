"""Moderation as each platform shows it: Feishu card updates (CardKit and patched cards) and
WeChat's passive text reply. The web page is in test_web_page_browser.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters import feishu
from bot.texts import DEFAULTS
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import FakeFeishu, encrypted_request, feishu_env, message_event, post_event, settle
from tests.fakes.openai import FakeOpenAI, call_once
from tests.fakes.wechat import start_wechat, text_xml
from tests.moderation_words import words_file

TERM = "confidential"
FRAGMENTS = {TERM[i:i + 3] for i in range(len(TERM) - 2)}


async def start_feishu(start_service: StartService, fake: FakeFeishu, tmp_path: Path,
                       moderation: dict[str, Any] | None = None, **feishu_config: Any,
                       ) -> RunningService:
    config = base_config(feishu={"retry_backoff": 0.01, "card_updates_per_second": 5,
                                 **feishu_config},
                         moderation={"words_file": words_file(tmp_path), **(moderation or {})})
    return await start_service(config=config, env=feishu_env(fake), adapters=[feishu.create])


async def send(service: RunningService, text: str = "hello") -> None:
    body, headers = encrypted_request(message_event(text))
    assert (await post_event(service.http, service.url, body, headers))[0] == 200
    await settle(service.services.tasks, within=10)


def card_texts(fake: FakeFeishu) -> list[str]:
    """Every text a card showed: CardKit element updates, or patched message cards."""
    shown = [str(c.body["content"]) for c in fake.ops("card_content")]
    for call in fake.ops("patch"):
        shown += [e.get("content", "") for e in json.loads(call.body["content"])["elements"]]
    return shown


def slow_stream(fake_openai: FakeOpenAI, answer: str) -> None:
    """Three characters a delta, 80 ms apart: the card is updated between the term's pieces."""
    fake_openai.chunk_size, fake_openai.chunk_delay = 3, 0.08
    fake_openai.reply = lambda body: answer


async def test_a_split_term_never_reaches_a_cardkit_update(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    slow_stream(fake_openai, "The file is confidential, please keep it so.")
    service = await start_feishu(start_service, fake_feishu, tmp_path)
    await send(service)
    shown = card_texts(fake_feishu)
    assert len(shown) > 3  # several updates went out while the answer streamed
    assert shown[-1] == "The file is ************, please keep it so."
    assert not any(fragment in text for text in shown for fragment in FRAGMENTS)


async def test_a_split_term_never_reaches_a_patched_message_card(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    slow_stream(fake_openai, "The file is confidential, please keep it so.")
    service = await start_feishu(start_service, fake_feishu, tmp_path, cardkit=False)
    await send(service)
    shown = card_texts(fake_feishu)
    assert len(shown) > 3
    assert shown[-1] == "The file is ************, please keep it so."
    assert not any(fragment in text for text in shown for fragment in FRAGMENTS)


async def test_a_card_flagged_after_streaming_ends_with_the_refusal(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    slow_stream(fake_openai, "Here is some dangerous advice for you.")
    fake_openai.flagged_phrases = {"dangerous advice"}
    service = await start_feishu(start_service, fake_feishu, tmp_path, moderation={"openai": True})
    await send(service)
    shown = card_texts(fake_feishu)
    assert any("dangerous" in text for text in shown[:-1])  # part of it was shown, then replaced
    assert shown[-1] == DEFAULTS["moderation_output"]
    assert fake_feishu.calls[-1].op == "card_settings"


async def test_a_tool_status_line_on_the_card_shows_only_moderated_answer_text(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.chunk_size = 3
    fake_openai.tool_text = "The confidential clock says"  # streamed before the tool call
    fake_openai.reply = lambda body: "it is late."
    config = base_config(tools={"enabled": True}, moderation={"words_file": words_file(tmp_path)},
                         feishu={"retry_backoff": 0.01, "card_updates_per_second": 5})
    service = await start_service(config=config, env=feishu_env(fake_feishu),
                                  adapters=[feishu.create])
    await send(service, "what time is it?")
    shown = card_texts(fake_feishu)
    assert "The ************ clock says\n\n*🔧 checking the time…*" in shown  # the status as is
    assert shown[-1] == "The ************ clock says\n\nit is late."
    assert not any(fragment in text for text in shown for fragment in FRAGMENTS)


async def test_a_refused_feishu_message_gets_the_refusal_and_no_model_call(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await start_feishu(start_service, fake_feishu, tmp_path)
    await send(service, "is it Confidential?")
    last = fake_feishu.ops("reply")[-1].body  # no card: the refusal is a plain text reply
    assert json.loads(last["content"]) == {"text": DEFAULTS["moderation_input"]}
    assert fake_openai.chat_calls == []


async def test_a_wechat_answer_is_masked_in_the_passive_reply(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "**Note**: it is confidential."
    pusher = await start_wechat(start_service, env={"MODERATION_WORDS_FILE": words_file(tmp_path)},
                                deadline=2.0, hold=3.0)
    reply, _ = await pusher.push(text_xml("what is it?"))
    assert reply is not None
    assert reply.content == "Note: it is ************."


async def test_a_flagged_wechat_message_is_refused(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    pusher = await start_wechat(start_service, env={"MODERATION_WORDS_FILE": words_file(tmp_path)},
                                deadline=2.0, hold=3.0)
    reply, _ = await pusher.push(text_xml("这个敏感词是什么"))
    assert reply is not None
    assert reply.content == DEFAULTS["moderation_input"]
    assert fake_openai.chat_calls == []
