"""Pictures out (/image), voice in (audio), pictures inside posts, and the card's markdown."""

from __future__ import annotations

import base64
from typing import Any

from adapters.feishu.parse import post_images
from adapters.feishu.texts import DEFAULTS
from bot.texts import Texts
from tests.conftest import StartService
from tests.fakes.feishu import FakeFeishu, message_event
from tests.fakes.openai import PNG_B64, FakeOpenAI
from tests.feishu_chat import audio_event, final_card_text, last_user_content, replies, send, start
from tests.markdown_sample import SAMPLE


def post_with_images(*keys: str) -> dict[str, Any]:
    paragraphs: list[list[dict[str, Any]]] = [[{"tag": "text", "text": "what are these?"}]]
    paragraphs += [[{"tag": "img", "image_key": key}] for key in keys]
    return {"title": "", "content": paragraphs}


async def test_image_command_uploads_the_picture_and_replies_with_an_image_message(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("/image a red fox", message_id="om_draw"))
    [(key, upload)] = fake_feishu.uploaded_images()
    assert (upload["content_type"], upload["data"]) == ("image/png", base64.b64decode(PNG_B64))
    assert fake_feishu.ops("upload_image")[0].body["image_type"] == "message"
    assert replies(fake_feishu)[-1] == ("image", {"image_key": key})
    assert fake_feishu.ops("reply")[-1].path == "/open-apis/im/v1/messages/om_draw/reply"


async def test_image_command_caption_finishes_the_thinking_card_before_the_picture(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("/画图 一只狐狸"))
    assert [kind for kind, _ in replies(fake_feishu)] == ["interactive", "image"]
    assert final_card_text(fake_feishu) == Texts().get("image_done")


async def test_failed_picture_upload_is_a_friendly_text(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    fake_feishu.fail_next["upload_image"] = [234001]
    service = await start(start_service, fake_feishu)
    await send(service, message_event("/image a fox"))
    assert replies(fake_feishu)[-1] == ("text", {"text": DEFAULTS["feishu_image_failed"]})


async def test_audio_is_downloaded_as_a_file_and_transcribed_as_ogg(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_feishu.resources[("om_voice", "file_v3_voice")] = (b"OggS fake opus", "audio/ogg")
    service = await start(start_service, fake_feishu)
    await send(service, audio_event())
    assert fake_feishu.ops("resource")[0].query == {"type": "file"}
    assert (fake_openai.uploads[0]["filename"], fake_openai.uploads[0]["content_type"]) == (
        "audio.ogg", "audio/ogg")


async def test_transcribed_audio_is_answered_through_the_pipeline(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_feishu.resources[("om_voice", "file_v3_voice")] = (b"OggS fake opus", "audio/ogg")
    service = await start(start_service, fake_feishu)
    await send(service, audio_event())
    assert last_user_content(fake_openai) == fake_openai.transcript
    assert final_card_text(fake_feishu).endswith(f"You said: {fake_openai.transcript}")


async def test_audio_that_cannot_be_downloaded_gets_a_polite_text(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, audio_event())  # no such resource: Feishu answers 234003
    assert replies(fake_feishu) == [("text", {"text": DEFAULTS["feishu_audio_failed"]})]
    assert fake_openai.uploads == []


async def test_post_pictures_reach_a_vision_model_as_data_urls(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_feishu.resources[("om_post", "img_a")] = (b"\x89PNG a", "image/png")
    fake_feishu.resources[("om_post", "img_b")] = (b"\xff\xd8 b", "image/jpeg")
    service = await start(start_service, fake_feishu, vision=True)
    await send(service, message_event(message_type="post", content=post_with_images("img_a", "img_b"),
                                      message_id="om_post"))
    urls = [p["image_url"]["url"] for p in last_user_content(fake_openai) if p["type"] == "image_url"]
    assert urls == ["data:image/png;base64," + base64.b64encode(b"\x89PNG a").decode(),
                    "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8 b").decode()]


async def test_post_pictures_are_capped(
    start_service: StartService, fake_feishu: FakeFeishu
) -> None:
    keys = [f"img_{i}" for i in range(7)]
    for key in keys:
        fake_feishu.resources[("om_many", key)] = (b"\x89PNG", "image/png")
    service = await start(start_service, fake_feishu, vision=True)
    await send(service, message_event(message_type="post", content=post_with_images(*keys),
                                      message_id="om_many"))
    assert len(fake_feishu.ops("resource")) == 4


async def test_post_pictures_without_vision_leave_the_text_for_the_model(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event(message_type="post", content=post_with_images("img_a")))
    assert (fake_feishu.ops("resource"), last_user_content(fake_openai)) == (
        [], "what are these?\n[image]")


def test_post_image_keys_are_read_in_order_from_either_post_form() -> None:
    post = post_with_images("img_1", "img_2")
    assert post_images(post) == post_images({"zh_cn": post}) == ("img_1", "img_2")


async def test_markdown_sample_reaches_the_card_unchanged(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: SAMPLE
    service = await start(start_service, fake_feishu)
    await send(service, message_event("release notes please"))
    assert final_card_text(fake_feishu) == SAMPLE.strip()
