"""Audio in process (PyAV): what platforms send decodes, what voice answers need encodes."""

from __future__ import annotations

import pytest

from bot.errors import UpstreamError
from bot.media import MP3, OPUS, convert, transcribable
from tests.fakes.audio import amr_noise, audio_seconds, tone


def test_wechat_amr_decodes_to_mp3() -> None:
    [clip] = convert(amr_noise(frames=150), MP3)  # 150 frames of 20 ms
    assert clip.mime == "audio/mpeg"
    assert clip.seconds == pytest.approx(3.0, abs=0.05)
    assert audio_seconds(clip.data) == pytest.approx(3.0, abs=0.1)


def test_feishu_ogg_opus_decodes_to_mp3() -> None:
    [clip] = convert(tone(4.0, "opus"), MP3)
    assert audio_seconds(clip.data) == pytest.approx(4.0, abs=0.1)


def test_speech_mp3_encodes_to_ogg_opus_for_feishu() -> None:
    [opus] = convert(tone(2.0), OPUS)
    assert (opus.data[:4], opus.mime) == (b"OggS", "audio/ogg")
    assert b"OpusHead" in opus.data[:100]
    assert audio_seconds(opus.data) == pytest.approx(2.0, abs=0.1)


def test_long_audio_is_cut_into_clips_of_at_most_the_given_length() -> None:
    clips = convert(tone(25.0), MP3, max_seconds=10.0)
    assert [round(c.seconds, 1) for c in clips] == [10.0, 10.0, 5.0]
    assert all(audio_seconds(c.data) <= 10.1 for c in clips)


def test_undecodable_bytes_are_an_audio_format_error() -> None:
    with pytest.raises(UpstreamError) as caught:
        convert(b"#!AMR\nthis is not audio", MP3)
    assert caught.value.kind == "audio_format"


async def test_formats_the_endpoint_takes_are_sent_as_they_are() -> None:
    assert await transcribable(b"OggS...", "audio/ogg") == (b"OggS...", "audio.ogg", "audio/ogg")


async def test_amr_is_converted_for_the_endpoint() -> None:
    data, name, mime = await transcribable(amr_noise(), "audio/amr")
    assert (name, mime) == ("audio.mp3", "audio/mpeg")
    assert audio_seconds(data) == pytest.approx(1.0, abs=0.1)
