"""Voice answers in the core and on /api/chat: when speech is made, of what, and what happens
when the speech endpoint fails."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.media import MP3, convert
from bot.messages import Attachment, Conversation, Incoming
from bot.replier import CollectingReplier
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI


async def ask(service: RunningService, **body: Any) -> tuple[int, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "u", **body}) as response:
        return response.status, await response.json()


def spoken_message() -> Incoming:
    return Incoming(platform="test", conversation=Conversation("test", "v"), user_id="v", text="",
                    attachments=(Attachment("audio", mime="audio/ogg", data=b"OggS opus"),))


async def test_api_chat_with_voice_reply_answers_with_mp3_beside_the_text(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    status, body = await ask(service, text="hello", voice_reply=True)
    assert status == 200
    assert body["reply"] == "You said: hello"
    assert body["audio"]["mime"] == "audio/mpeg"
    clip = convert(base64.b64decode(body["audio"]["b64"]), MP3)[0]
    assert clip.seconds == pytest.approx(fake_openai.speech_seconds, abs=0.1)
    assert fake_openai.speeches == [{"model": "tts-1", "input": "You said: hello",
                                     "voice": "alloy", "response_format": "mp3"}]


async def test_api_chat_without_voice_reply_makes_no_speech(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    _, body = await ask(service, text="hello")
    assert "audio" not in body
    assert fake_openai.speeches == []


async def test_voice_reply_must_be_a_boolean(start_service: StartService) -> None:
    service = await start_service()
    status, body = await ask(service, text="hello", voice_reply="yes")
    assert status == 400
    assert body["error"]["message"] == "'voice_reply' must be true or false"


async def test_streamed_answer_carries_the_audio_on_its_done_line(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(), json={
            "user": "u", "text": "hello", "stream": True, "voice_reply": True}) as response:
        lines = [json.loads(line) for line in (await response.text()).splitlines()]
    assert lines[-1]["done"] is True
    assert lines[-1]["audio"]["mime"] == "audio/mpeg"
    assert "".join(line["content"] for line in lines[:-1]) == "You said: hello"


async def test_voice_reply_always_speaks_typed_questions_too(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config={**base_config(), "voice_reply": "always"})
    _, body = await ask(service, text="hello")
    assert "audio" in body


async def test_voice_reply_never_overrides_the_request(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config={**base_config(), "voice_reply": "never"})
    _, body = await ask(service, text="hello", voice_reply=True)
    assert "audio" not in body
    assert fake_openai.speeches == []


async def test_a_voice_message_is_answered_in_voice_without_reading_back_what_was_heard(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    replier = CollectingReplier()
    await service.services.pipeline.handle(spoken_message(), replier)
    assert replier.reply is not None
    assert replier.reply.text == "🎤 “turn on the lights”\n\nYou said: turn on the lights"
    assert replier.reply.audio is not None
    assert fake_openai.speeches[0]["input"] == "You said: turn on the lights"


async def test_commands_are_answered_in_text_only(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    _, body = await ask(service, text="/help", voice_reply=True)
    assert "audio" not in body
    assert fake_openai.speeches == []


async def test_a_speech_failure_leaves_the_answer_in_text_and_logs_why(
    start_service: StartService, fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    service = await start_service()
    fake_openai.speech_fail_next = [401]
    with caplog.at_level(logging.WARNING):
        status, body = await ask(service, text="hello", voice_reply=True)
    assert (status, body) == (200, {"reply": "You said: hello"})
    assert "speech failed (llm_auth)" in caplog.text
    assert "answering in text only" in caplog.text


async def test_markdown_is_not_read_aloud(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.reply = lambda body: "## Steps\n\n**Open** the [docs](https://x.test/d).\n\n" \
        "```\ncode\n```\nDone."
    await ask(service, text="how?", voice_reply=True)
    assert fake_openai.speeches[0]["input"] == "Steps\n\nOpen the docs.\n\nDone."


async def test_what_is_spoken_is_the_answer_as_moderation_masked_it(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    words = tmp_path / "words.txt"
    words.write_text("confidential\n", encoding="utf-8")
    service = await start_service(config=base_config(moderation={"words_file": str(words)}))
    fake_openai.reply = lambda body: "The plan is confidential, sorry."
    _, body = await ask(service, text="tell me", voice_reply=True)
    assert "confidential" not in body["reply"]
    assert "confidential" not in fake_openai.speeches[0]["input"]
    assert body["reply"] == "The plan is ************, sorry."
    assert fake_openai.speeches[0]["input"] == "The plan is , sorry."  # the mask is not read out
