"""Picture edits (/image right after a picture), vision `auto` (pictures sent until the endpoint
says the model takes none, then remembered per model) and content-policy refusals as answers."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from adapters.wechat.texts import DEFAULTS as TEXTS
from bot.messages import Attachment, Conversation, Incoming
from bot.replier import CollectingReplier
from bot.texts import Texts
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import PNG_B64, FakeOpenAI
from tests.fakes.wechat import FakeWeChatAPI, message_xml, start_wechat, text_xml, wechat_api

FAST: dict[str, Any] = {"deadline": 3.0, "hold": 4.0}
PICTURE = b"\x89PNG a cat"
IMAGE = "<PicUrl><![CDATA[http://pic]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"


def picture(text: str = "", user: str = "p", data: bytes = PICTURE) -> Incoming:
    return Incoming(platform="test", conversation=Conversation("test", user), user_id=user,
                    text=text, attachments=(Attachment("image", mime="image/png", data=data),))


def typed(text: str, user: str = "p") -> Incoming:
    return Incoming(platform="test", conversation=Conversation("test", user), user_id=user,
                    text=text)


async def handle(service: RunningService, incoming: Incoming) -> CollectingReplier:
    replier = CollectingReplier()
    await service.services.pipeline.handle(incoming, replier)
    return replier


@pytest.fixture
async def api() -> AsyncIterator[FakeWeChatAPI]:
    async with wechat_api() as fake:
        fake.media["m1"] = (PICTURE, "image/png")
        yield fake


async def test_image_command_right_after_a_picture_edits_it(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await handle(service, picture("what is this?"))
    replier = await handle(service, typed("/image make it blue"))
    assert replier.reply is not None
    assert replier.reply.text == Texts().get("image_edited")
    assert replier.reply.images[0].data == base64.b64decode(PNG_B64)
    assert [(e["prompt"], e["image"], e["filename"]) for e in fake_openai.edits] == [
        ("make it blue", PICTURE, "image.png")]
    assert fake_openai.images == []


async def test_a_second_edit_refines_the_edited_picture(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await handle(service, picture("what is this?"))
    await handle(service, typed("/image make it blue"))
    await handle(service, typed("/image add a hat"))
    assert [e["image"] for e in fake_openai.edits] == [PICTURE, base64.b64decode(PNG_B64)]


async def test_image_command_in_another_conversation_draws_a_new_picture(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await handle(service, picture("what is this?", user="alice"))
    await handle(service, typed("/image a red fox", user="bob"))
    assert fake_openai.edits == []
    assert fake_openai.images[0]["prompt"] == "a red fox"


async def test_image_command_after_the_edit_window_draws_a_new_picture(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config={**base_config(), "image_edit_window": 0})
    await handle(service, picture("what is this?"))
    await handle(service, typed("/image make it blue"))
    assert fake_openai.edits == []
    assert fake_openai.images[0]["prompt"] == "make it blue"


async def test_pictures_over_the_size_cap_are_not_kept_for_edits(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await handle(service, picture("what is this?", data=b"\x89PNG" + b"0" * (4 * 1024 * 1024)))
    await handle(service, typed("/image make it blue"))
    assert fake_openai.edits == []


async def test_kept_picture_lives_in_redis_under_the_conversation_hash_tag_with_the_window_ttl(
    start_service: StartService, redis_url: str
) -> None:
    service = await start_service(env={"REDIS_URL": redis_url})
    await handle(service, picture("what is this?", user="tagged"))
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match="*picture:*")]
        ttl = await client.pttl(keys[0])
    finally:
        await client.aclose()
    assert keys == ["imbot:kv:picture:{test:tagged}"]
    assert 590_000 < ttl <= 600_000


async def test_picture_edit_on_wechat_replies_with_the_edited_picture(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    pusher = await start_wechat(start_service, api=api, **FAST)
    await pusher.push(message_xml("image", IMAGE, msg_id=1))
    reply, _ = await pusher.push(text_xml("/image 把猫变成蓝色", msg_id=2))
    assert reply is not None
    assert (reply.kind, reply.media_id) == ("image", api.uploads[-1]["media_id"])
    assert api.uploads[-1]["data"] == base64.b64decode(PNG_B64)
    assert [(e["prompt"], e["image"]) for e in fake_openai.edits] == [("把猫变成蓝色", PICTURE)]


async def test_vision_auto_sends_pictures_by_default(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    replier = await handle(service, picture("what is this?"))
    content = fake_openai.chat_calls[0]["messages"][-1]["content"]
    assert content[1]["type"] == "image_url"
    assert replier.reply is not None
    assert replier.reply.text == "You said: what is this?"


async def test_vision_auto_refused_tells_the_user_once_then_sends_no_more_pictures(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.blind_models = {"gpt-4o-mini"}
    service = await start_service()
    first = await handle(service, picture("what is this?"))
    second = await handle(service, picture("and this?"))
    assert first.reply is not None
    assert second.reply is not None
    assert (first.reply.kind, first.reply.text) == ("notice", Texts().get("image_blind"))
    assert second.reply.text == Texts().get("image_unsupported")
    assert len(fake_openai.chat_calls) == 1  # the second picture never went out
    third = await handle(service, typed("hello"))
    assert third.reply is not None
    assert third.reply.text == "You said: hello"  # text still goes to that model


async def test_vision_refusal_is_remembered_per_model(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.blind_models = {"gpt-4o-mini"}
    service = await start_service(config=base_config(llm={"models": ["gpt-4o-mini", "gpt-4o"]}))
    await handle(service, picture("what is this?"))
    await handle(service, typed("/model gpt-4o"))
    replier = await handle(service, picture("and this?"))
    assert replier.reply is not None
    assert replier.reply.text == "You said: and this?"
    assert [c["model"] for c in fake_openai.chat_calls] == ["gpt-4o-mini", "gpt-4o"]


async def test_vision_refusal_is_shared_by_instances_through_redis(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    fake_openai.blind_models = {"gpt-4o-mini"}
    one = await start_service(env={"REDIS_URL": redis_url})
    two = await start_service(env={"REDIS_URL": redis_url})
    await handle(one, picture("what is this?", user="a"))
    replier = await handle(two, picture("and this?", user="b"))
    assert replier.reply is not None
    assert replier.reply.text == Texts().get("image_unsupported")
    assert len(fake_openai.chat_calls) == 1


async def test_vision_true_keeps_sending_after_a_refusal(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.blind_models = {"gpt-4o-mini"}
    service = await start_service(config=base_config(llm={"vision": True}))
    first = await handle(service, picture("what is this?"))
    await handle(service, picture("and this?"))
    assert first.reply is not None
    assert first.reply.text == Texts().get("error_llm_no_vision")
    assert len(fake_openai.chat_calls) == 2


async def ask(service: RunningService, text: str) -> tuple[int, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "u", "text": text}) as response:
        return response.status, await response.json()


async def test_chat_refusal_on_api_chat_is_a_200_with_refused(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.refuse_chat = True
    service = await start_service()
    status, body = await ask(service, "something the filter blocks")
    assert (status, body) == (200, {"reply": Texts().get("error_llm_content_filter"),
                                    "refused": True})


async def test_upstream_failure_on_api_chat_is_still_a_502(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [500]
    service = await start_service()
    status, body = await ask(service, "hello")
    assert status == 502
    assert body["error"]["type"] == "llm_server"


async def test_image_refusal_on_wechat_is_the_friendly_text(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.refuse_images = True
    pusher = await start_wechat(start_service, api=api, **FAST)
    reply, _ = await pusher.push(text_xml("/image something forbidden"))
    assert reply is not None
    assert reply.content == Texts().get("error_llm_content_filter")
    assert reply.content != TEXTS["wechat_image_failed"]
    assert api.uploads == []
