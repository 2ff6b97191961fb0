"""Who gets an answer, what the model sees, and how each message type is handled."""

from __future__ import annotations

import json
from typing import Any

from adapters.feishu.parse import flatten_post
from tests.conftest import StartService
from tests.fakes.feishu import (
    BOT_OPEN_ID,
    USER_OPEN_ID,
    FakeFeishu,
    mention,
    message_event,
)
from tests.fakes.openai import FakeOpenAI
from tests.feishu_chat import final_card_text, last_user_content, send, start

OTHER_USER = "ou_other000000000000000000000000002"
GROUP = "oc_group00000000000000000000000001"


def bot_mention() -> dict[str, Any]:
    return mention("@_user_1", BOT_OPEN_ID, "imbot")


async def test_p2p_message_is_answered_in_a_card(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("hello"))
    assert final_card_text(fake_feishu) == "You said: hello"


async def test_group_message_without_mention_is_ignored(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("hello all", chat_type="group", chat_id=GROUP))
    assert fake_openai.chat_calls == []
    assert fake_feishu.ops("reply") == []


async def test_group_message_mentioning_someone_else_is_ignored(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    event = message_event("@_user_1 hi", chat_type="group", chat_id=GROUP,
                          mentions=[mention("@_user_1", OTHER_USER, "Tom")])
    await send(service, event)
    assert fake_openai.chat_calls == []


async def test_group_mention_of_the_bot_is_answered_without_the_placeholder(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("@_user_1 what is 2+2?", chat_type="group", chat_id=GROUP,
                                      mentions=[bot_mention()]))
    assert last_user_content(fake_openai) == "what is 2+2?"


async def test_other_mentions_reach_the_model_as_names(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    mentions = [bot_mention(), mention("@_user_2", OTHER_USER, "Tom")]
    await send(service, message_event("@_user_1 say hi to @_user_2", chat_type="group", chat_id=GROUP,
                                      mentions=mentions))
    assert last_user_content(fake_openai) == "say hi to @Tom"


async def test_messages_from_bots_are_ignored(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("hello", sender=BOT_OPEN_ID, sender_type="app"))
    assert fake_openai.chat_calls == []


async def test_bot_identity_is_fetched_once(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    for text in ("@_user_1 one", "@_user_1 two"):
        await send(service, message_event(text, chat_type="group", chat_id=GROUP, mentions=[bot_mention()]))
    assert len(fake_feishu.ops("bot_info")) == 1


async def test_p2p_history_is_kept_per_user(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("my name is Ada"))
    await send(service, message_event("who am I?"))
    contents = [m["content"] for m in fake_openai.chat_calls[-1]["messages"]]
    assert "my name is Ada" in contents


def group_event(text: str, sender: str) -> dict[str, Any]:
    return message_event(f"@_user_1 {text}", chat_type="group", chat_id=GROUP, sender=sender,
                         mentions=[bot_mention()])


async def test_group_history_is_per_user_by_default(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, group_event("the secret is 42", USER_OPEN_ID))
    await send(service, group_event("what is the secret?", OTHER_USER))
    contents = [m["content"] for m in fake_openai.chat_calls[-1]["messages"]]
    assert "the secret is 42" not in contents


async def test_group_history_can_be_shared_by_the_whole_group(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu, group_shared_history=True)
    await send(service, group_event("the secret is 42", USER_OPEN_ID))
    await send(service, group_event("what is the secret?", OTHER_USER))
    contents = [m["content"] for m in fake_openai.chat_calls[-1]["messages"]]
    assert "the secret is 42" in contents


async def test_reply_goes_into_the_thread_of_a_threaded_message(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("hello", thread_id="omt_d4be107c616"))
    assert fake_feishu.ops("reply")[0].body["reply_in_thread"] is True


def test_post_content_is_flattened_to_text() -> None:
    post = {"title": "Plan", "content": [
        [{"tag": "text", "text": "see "}, {"tag": "a", "href": "https://x.test", "text": "this"},
         {"tag": "at", "user_id": "@_user_1", "user_name": ""}],
        [{"tag": "img", "image_key": "img_1"}],
        [{"tag": "code_block", "language": "GO", "text": "x := 1"}],
    ]}
    assert flatten_post(post) == "Plan\nsee [this](https://x.test)@_user_1\n[image]\n\n```go\nx := 1\n```"


async def test_post_message_reaches_the_model_as_flattened_text(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    content = {"title": "", "content": [[{"tag": "text", "text": "line one"}],
                                        [{"tag": "text", "text": "line two"}]]}
    await send(service, message_event(message_type="post", content=content))
    assert last_user_content(fake_openai) == "line one\nline two"


async def test_image_without_vision_gets_a_polite_text(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event(message_type="image", content={"image_key": "img_1"}))
    reply = fake_feishu.ops("reply")[0].body
    assert (reply["msg_type"], fake_openai.chat_calls) == ("text", [])
    assert "picture" in json.loads(reply["content"])["text"]


async def test_image_with_vision_is_downloaded_for_the_model(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu, vision=True)
    fake_feishu.resources[("om_img", "img_1")] = (b"\x89PNG fake", "image/png")
    await send(service, message_event(message_type="image", content={"image_key": "img_1"},
                                      message_id="om_img"))
    parts = last_user_content(fake_openai)
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_audio_gets_a_polite_text(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event(message_type="audio", content={"file_key": "f1", "duration": 2000}))
    assert "voice" in json.loads(fake_feishu.ops("reply")[0].body["content"])["text"]
