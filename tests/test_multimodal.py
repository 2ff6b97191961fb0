"""Voice in, pictures in and out, /model and presets' template variables."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.messages import Attachment, Conversation, Incoming
from bot.prompts import Presets
from bot.replier import CollectingReplier
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.audio import amr_noise
from tests.fakes.openai import PNG_B64, FakeOpenAI


async def ask(service: RunningService, text: str, user: str = "u") -> tuple[int, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text}) as response:
        return response.status, await response.json()


def voice(data: bytes, mime: str) -> Incoming:
    return Incoming(platform="test", conversation=Conversation("test", "v"), user_id="v", text="",
                    attachments=(Attachment("audio", mime=mime, data=data),))


async def test_image_command_returns_the_generated_picture(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    status, body = await ask(service, "/image a red fox")
    assert status == 200
    assert body["images"] == [{"mime": "image/png", "b64": PNG_B64}]
    assert fake_openai.images == [{"prompt": "a red fox", "model": "gpt-image-1",
                                   "size": "1024x1024"}]


async def test_image_refused_by_policy_is_a_friendly_text(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.refuse_images = True
    status, body = await ask(service, "/image something forbidden")
    assert status == 200
    assert body == {"reply": "The assistant declined to answer that.", "refused": True}


async def test_image_command_without_a_description_explains_itself(start_service: StartService) -> None:
    service = await start_service()
    _, body = await ask(service, "/image")
    assert "Describe the picture" in body["reply"]


async def test_model_switching_is_off_unless_the_operator_lists_models(
    start_service: StartService,
) -> None:
    service = await start_service()
    _, body = await ask(service, "/model gpt-4o")
    assert "not enabled switching" in body["reply"]


async def test_model_switch_applies_to_that_conversation(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(llm={"models": ["gpt-4o-mini", "gpt-4o"]}))
    _, body = await ask(service, "/model gpt-4o", user="alice")
    await ask(service, "hi", user="alice")
    await ask(service, "hi", user="bob")
    assert body["reply"] == "Switched to model gpt-4o."
    assert [c["model"] for c in fake_openai.chat_calls] == ["gpt-4o", "gpt-4o-mini"]


async def test_model_outside_the_allowed_list_is_refused(start_service: StartService) -> None:
    service = await start_service(config=base_config(llm={"models": ["gpt-4o-mini"]}))
    _, body = await ask(service, "/model o3")
    assert "not available" in body["reply"]


async def test_voice_is_transcribed_then_answered_quoting_what_was_heard(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    replier = CollectingReplier()
    await service.services.pipeline.handle(voice(b"OggS fake opus", "audio/ogg"), replier)
    assert fake_openai.uploads[0]["filename"] == "audio.ogg"
    assert fake_openai.chat_calls[0]["messages"][-1]["content"] == "turn on the lights"
    assert replier.reply is not None
    assert replier.reply.text == "🎤 “turn on the lights”\n\nYou said: turn on the lights"


async def test_amr_voice_is_converted_in_process_before_upload(
    start_service: StartService, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    service = await start_service()
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no ffmpeg (or anything) to run
    await service.services.pipeline.handle(voice(amr_noise(), "audio/amr"), CollectingReplier())
    assert fake_openai.uploads[0]["filename"] == "audio.mp3"
    assert fake_openai.uploads[0]["content_type"] == "audio/mpeg"
    assert fake_openai.uploads[0]["size"] > 500


async def test_an_undecodable_recording_gets_a_text_saying_so(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    replier = CollectingReplier()
    await service.services.pipeline.handle(voice(b"#!AMR\nnot audio", "audio/amr"), replier)
    assert replier.reply is not None
    assert replier.reply.text == "I cannot read this voice recording. Please try again, or type " \
        "your message."
    assert fake_openai.uploads == []


async def test_picture_without_a_vision_model_gets_a_polite_text(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(llm={"vision": False}))
    replier = CollectingReplier()
    picture = Incoming(platform="test", conversation=Conversation("test", "p"), user_id="p", text="",
                       attachments=(Attachment("image", mime="image/png", data=b"png"),))
    await service.services.pipeline.handle(picture, replier)
    assert replier.reply is not None
    assert "pictures are not supported" in replier.reply.text
    assert fake_openai.chat_calls == []


async def test_picture_goes_to_a_vision_model_as_a_data_url_with_the_caption(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(llm={"vision": True}))
    picture = Incoming(platform="test", conversation=Conversation("test", "p"), user_id="p",
                       text="what is this?",
                       attachments=(Attachment("image", mime="image/png", data=b"png"),))
    await service.services.pipeline.handle(picture, CollectingReplier())
    content = fake_openai.chat_calls[0]["messages"][-1]["content"]
    assert content == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url",
         "image_url": {"url": "data:image/png;base64," + base64.b64encode(b"png").decode()}},
    ]


async def test_preset_template_variables_are_filled(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await ask(service, "hi", user="Ada")
    system = fake_openai.chat_calls[0]["messages"][0]["content"]
    assert "Ada on webhook" in system
    assert "{{" not in system


def test_a_malformed_preset_is_skipped_and_reported_with_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good.md").write_text("---\nname: good\n---\nBe good.\n", encoding="utf-8")
    (tmp_path / "bad.md").write_text("---\ntemperature: hot\n---\nx\n", encoding="utf-8")
    (tmp_path / "empty.md").write_text("no front matter", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        presets = Presets.load(tmp_path, "good")
    assert presets.names() == ["good"]
    assert f"{tmp_path / 'bad.md'}: temperature must be a number" in caplog.text
    assert f"{tmp_path / 'empty.md'}: missing front matter" in caplog.text
