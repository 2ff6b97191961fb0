"""Voice answers on WeChat: temporary voice media (mp3, at most 60 s and 2 MB a clip), passive
when ready in time, otherwise through customer service or 继续, with the text always too."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.wechat.texts import DEFAULTS as TEXTS
from tests.conftest import StartService
from tests.fakes.audio import amr_noise, audio_seconds
from tests.fakes.openai import FakeOpenAI
from tests.fakes.wechat import (
    OPENID,
    FakeWeChatAPI,
    message_xml,
    settle,
    start_wechat,
    text_xml,
)
from tests.wechat_timing import start_retrying

FAST: dict[str, Any] = {"deadline": 3.0, "hold": 4.0}
VOICE = "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format>"
ANSWER = "🎤 “turn on the lights”\n\nYou said: turn on the lights"


@pytest.fixture
def api(fake_wechat: FakeWeChatAPI) -> FakeWeChatAPI:
    """The fake WeChat API, serving the voice note `v1`."""
    fake_wechat.media["v1"] = (amr_noise(), "audio/amr")
    return fake_wechat


async def test_voice_in_time_is_a_passive_voice_reply_and_the_text_follows_by_customer_service(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    pusher = await start_wechat(start_service, api=api, customer_service=True, **FAST)
    reply, _ = await pusher.push(message_xml("voice", VOICE))
    sent = await api.wait_sent(1)
    assert reply is not None
    [upload] = api.uploads
    assert (reply.kind, reply.media_id) == ("voice", upload["media_id"])
    assert (upload["type"], upload["filename"], upload["content_type"]) == (
        "voice", "voice.mp3", "audio/mpeg")
    assert audio_seconds(upload["data"]) == pytest.approx(fake_openai.speech_seconds, abs=0.1)
    assert sent == [{"touser": OPENID, "msgtype": "text", "text": {"content": ANSWER}}]


async def test_voice_without_customer_service_leaves_the_text_for_more(
    start_service: StartService, api: FakeWeChatAPI
) -> None:
    pusher = await start_wechat(start_service, api=api, **FAST)
    reply, _ = await pusher.push(message_xml("voice", VOICE, msg_id=1))
    more, _ = await pusher.push(text_xml("继续", msg_id=2))
    assert reply is not None
    assert more is not None
    assert reply.kind == "voice"
    assert more.content == ANSWER


async def test_wechat_transcribed_voice_is_answered_in_voice_too(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    pusher = await start_wechat(start_service, api=api, customer_service=True, **FAST)
    fields = "<MediaId><![CDATA[v1]]></MediaId><Recognition><![CDATA[几点了]]></Recognition>"
    reply, _ = await pusher.push(message_xml("voice", fields))
    assert reply is not None
    assert reply.kind == "voice"
    assert fake_openai.uploads == []  # WeChat's own transcript: nothing to transcribe
    assert fake_openai.speeches[0]["input"] == "You said: 几点了"


async def test_late_voice_answer_goes_out_through_customer_service_voice_first(
    start_service: StartService, api: FakeWeChatAPI
) -> None:
    api.upload_latency = 2.0  # past the last attempt's deadline
    pusher = await start_retrying(start_service, api=api, customer_service=True)
    reply, _ = await pusher.push(message_xml("voice", VOICE))
    sent = await api.wait_sent(2)
    assert reply is not None
    assert reply.content == TEXTS["wechat_thinking_push"]
    assert sent == [
        {"touser": OPENID, "msgtype": "voice", "voice": {"media_id": api.uploads[0]["media_id"]}},
        {"touser": OPENID, "msgtype": "text", "text": {"content": ANSWER}},
    ]


async def test_voice_answer_over_60_seconds_is_split_into_clips_wechat_accepts(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.speech_seconds = 130.0
    pusher = await start_wechat(start_service, api=api, customer_service=True, **FAST)
    reply, _ = await pusher.push(message_xml("voice", VOICE))
    sent = await api.wait_sent(3)
    clips = [audio_seconds(u["data"]) for u in api.uploads]
    assert [round(c) for c in clips] == [58, 58, 14]  # the fake refuses clips over 60 s
    assert reply is not None
    assert (reply.kind, reply.media_id) == ("voice", api.uploads[0]["media_id"])
    assert [m["msgtype"] for m in sent] == ["voice", "voice", "text"]
    assert [m["voice"]["media_id"] for m in sent[:2]] == [u["media_id"] for u in api.uploads[1:]]


async def test_speech_failure_on_wechat_is_a_text_reply_and_the_log_says_why(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_openai.speech_fail_next = [401]
    pusher = await start_wechat(start_service, api=api, **FAST)
    with caplog.at_level(logging.WARNING):
        reply, _ = await pusher.push(message_xml("voice", VOICE))
    assert reply is not None
    assert (reply.kind, reply.content) == ("text", ANSWER)
    assert api.uploads == []
    assert "speech failed (llm_auth)" in caplog.text


async def test_refused_voice_upload_is_a_text_reply(
    start_service: StartService, api: FakeWeChatAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.upload_errors.append(40006)
    pusher = await start_wechat(start_service, api=api, **FAST)
    with caplog.at_level(logging.WARNING):
        reply, _ = await pusher.push(message_xml("voice", VOICE))
        await settle()
    assert reply is not None
    assert (reply.kind, reply.content) == ("text", ANSWER)
    assert "voice upload failed, errcode 40006" in caplog.text


async def test_a_very_long_spoken_answer_is_shortened_to_five_clips(
    start_service: StartService, api: FakeWeChatAPI, fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_openai.speech_seconds = 400.0
    pusher = await start_wechat(start_service, api=api, customer_service=True, **FAST)
    with caplog.at_level(logging.INFO):
        reply, _ = await pusher.push(message_xml("voice", VOICE))
        passive = reply is not None and reply.kind == "voice"  # else late: all by customer service
        sent = await api.wait_sent(5 if passive else 6, seconds=15)
    assert len(api.uploads) == 5
    assert all(audio_seconds(u["data"]) <= 60 for u in api.uploads)
    assert sent[-1]["msgtype"] == "text"
    assert "cut to 5 clips of 7" in caplog.text


async def test_late_voice_without_customer_service_is_handed_over_and_announced_by_name(
    start_service: StartService, api: FakeWeChatAPI
) -> None:
    api.upload_latency = 2.0  # past the last attempt's deadline
    pusher = await start_retrying(start_service, api=api)
    first, _ = await pusher.push(message_xml("voice", VOICE, msg_id=1))
    await settle()
    pusher.timeout = 5.0
    api.upload_latency = 0.0
    answer, _ = await pusher.push(text_xml("hi", msg_id=2))
    more, _ = await pusher.push(text_xml("继续", msg_id=3))
    assert first is not None
    assert answer is not None
    assert more is not None
    assert first.content == TEXTS["wechat_thinking_handover"]
    assert answer.content is not None
    assert ANSWER in answer.content  # the earlier answer's text, in front of the new one
    assert answer.content.endswith(f"You said: hi\n\n{TEXTS['wechat_voice_hint']}")
    assert (more.kind, more.media_id) == ("voice", api.uploads[0]["media_id"])
