"""Voice answers and picture edits on Feishu: an opus audio message (uploaded through
im/v1/files with its duration) before the text card; /image after a picture edits it."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from adapters.feishu.texts import DEFAULTS
from bot.media import MP3, convert
from bot.texts import Texts
from tests.conftest import StartService
from tests.fakes.audio import amr_noise
from tests.fakes.feishu import FakeFeishu, message_event
from tests.fakes.openai import PNG_B64, FakeOpenAI
from tests.feishu_chat import audio_event, final_card_text, replies, send, start

PICTURE = b"\x89PNG the cat"


def with_voice(fake: FakeFeishu) -> None:
    fake.resources[("om_voice", "file_v3_voice")] = (b"OggS fake opus", "audio/ogg")


def picture_event(message_id: str = "om_pic") -> dict[str, Any]:
    return message_event(message_type="image", content={"image_key": "img_cat"},
                         message_id=message_id)


async def test_voice_in_gets_an_opus_audio_message_then_the_text_card(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    with_voice(fake_feishu)
    service = await start(start_service, fake_feishu)
    await send(service, audio_event())
    [(key, upload)] = fake_feishu.uploaded_files()
    assert (upload["file_type"], upload["file_name"]) == ("opus", "answer.opus")
    assert int(upload["duration"]) == pytest.approx(fake_openai.speech_seconds * 1000, abs=100)
    assert convert(upload["file"]["data"], MP3)[0].seconds == pytest.approx(
        fake_openai.speech_seconds, abs=0.1)
    kinds = [kind for kind, _ in replies(fake_feishu)]
    assert kinds == ["interactive", "audio"]  # the thinking card, then the voice
    assert replies(fake_feishu)[1] == ("audio", {"file_key": key})
    assert final_card_text(fake_feishu).endswith(f"You said: {fake_openai.transcript}")
    assert fake_feishu.ops("reply")[1].at < fake_feishu.ops("card_content")[-1].at


async def test_typed_messages_get_no_audio_with_voice_reply_auto(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("hello"))
    assert fake_feishu.uploaded_files() == []
    assert fake_openai.speeches == []


async def test_speech_failure_on_feishu_leaves_the_card_alone_and_logs_why(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with_voice(fake_feishu)
    fake_openai.speech_fail_next = [401]
    service = await start(start_service, fake_feishu)
    with caplog.at_level(logging.WARNING):
        await send(service, audio_event())
    assert [kind for kind, _ in replies(fake_feishu)] == ["interactive"]
    assert final_card_text(fake_feishu).endswith(f"You said: {fake_openai.transcript}")
    assert "speech failed (llm_auth)" in caplog.text


async def test_refused_audio_upload_still_finishes_the_card(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    with_voice(fake_feishu)
    fake_feishu.fail_next["upload_file"] = [234001]
    service = await start(start_service, fake_feishu)
    await send(service, audio_event())
    assert [kind for kind, _ in replies(fake_feishu)] == ["interactive"]
    assert final_card_text(fake_feishu).endswith(f"You said: {fake_openai.transcript}")


async def test_amr_from_elsewhere_is_converted_to_opus_for_feishu(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_feishu.resources[("om_voice", "file_v3_voice")] = (amr_noise(), "audio/amr")
    service = await start(start_service, fake_feishu)
    await send(service, audio_event())
    [(_, upload)] = fake_feishu.uploaded_files()
    assert upload["file"]["data"].startswith(b"OggS")


async def test_image_command_after_a_picture_edits_that_picture(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_feishu.resources[("om_pic", "img_cat")] = (PICTURE, "image/png")
    service = await start(start_service, fake_feishu, vision=True)
    await send(service, picture_event())
    await send(service, message_event("/image make the cat blue", message_id="om_edit"))
    [edit] = fake_openai.edits
    assert (edit["prompt"], edit["image"], edit["content_type"]) == (
        "make the cat blue", PICTURE, "image/png")
    assert fake_openai.images == []  # edited, not drawn anew
    [(key, upload)] = fake_feishu.uploaded_images()
    assert upload["data"] == base64.b64decode(PNG_B64)
    assert replies(fake_feishu)[-1] == ("image", {"image_key": key})
    assert final_card_text(fake_feishu) == Texts().get("image_edited")


async def test_post_with_a_picture_and_image_command_edits_it(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_feishu.resources[("om_post", "img_cat")] = (PICTURE, "image/png")
    post = {"title": "", "content": [[{"tag": "text", "text": "/image add a hat"}],
                                      [{"tag": "img", "image_key": "img_cat"}]]}
    service = await start(start_service, fake_feishu, vision=True)
    await send(service, message_event(message_type="post", content=post, message_id="om_post"))
    assert [(e["prompt"], e["image"]) for e in fake_openai.edits] == [("add a hat", PICTURE)]


async def test_image_refusal_on_feishu_is_the_friendly_text(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI
) -> None:
    fake_openai.refuse_images = True
    service = await start(start_service, fake_feishu)
    await send(service, message_event("/image something forbidden"))
    assert final_card_text(fake_feishu) == Texts().get("error_llm_content_filter")
    assert fake_feishu.uploaded_images() == []
    assert DEFAULTS["feishu_image_failed"] not in str(replies(fake_feishu))
