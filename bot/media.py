"""Audio in process with PyAV (FFmpeg's libraries, shipped in its wheels): any format platforms
send (WeChat's AMR, Feishu's ogg/opus...) decoded; mp3 for transcription and WeChat voice
answers, ogg/opus for Feishu's."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any

from bot.errors import ErrorKind, UpstreamError

# The transcription endpoint takes these (by file name extension, per the OpenAI SDK docs).
ACCEPTED = {"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "opus", "wav", "webm"}
_EXTENSIONS = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
    "audio/ogg": "ogg", "audio/opus": "ogg", "audio/wav": "wav", "audio/x-wav": "wav",
    "audio/webm": "webm", "audio/flac": "flac", "audio/amr": "amr", "audio/speex": "speex",
}
MAX_SECONDS = 15 * 60.0  # longer recordings are cut: no platform sends (or plays) more


@dataclass(frozen=True, slots=True)
class Target:
    """An output format: container, codec, sample rate, bit rate and its MIME type."""

    container: str
    codec: str
    rate: int
    bit_rate: int
    mime: str
    layout: str = "mono"


MP3 = Target("mp3", "libmp3lame", 16000, 32000, "audio/mpeg")  # transcription, WeChat voice (it
# also takes AMR; mp3 at 32 kbit/s keeps a 58 s clip near 230 KB, far under its 2 MB)
OPUS = Target("ogg", "libopus", 16000, 24000, "audio/ogg")  # Feishu audio messages


@dataclass(frozen=True, slots=True)
class Clip:
    """Encoded audio and how long it plays."""

    data: bytes
    mime: str
    seconds: float


def extension(mime: str, name: str = "") -> str:
    """The file extension for a MIME type (or the name's own extension)."""
    if "." in name:
        return name.rsplit(".", 1)[1].lower()
    return _EXTENSIONS.get(mime.split(";")[0].strip().lower(), "bin")


def _samples(data: bytes, rate: int, layout: str) -> list[Any]:
    """Decode any container/codec FFmpeg knows into s16 frames at `rate` Hz (`layout`)."""
    import av

    resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
    frames: list[Any] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        for frame in container.decode(audio=0):
            if frame.time is not None and frame.time > MAX_SECONDS:
                break
            frames.extend(resampler.resample(frame))
    frames.extend(resampler.resample(None))
    return frames


def _pcm(frames: list[Any]) -> bytes:
    return b"".join(bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]
                    for frame in frames)


def _encode(pcm: bytes, target: Target) -> bytes:
    """s16 PCM at the target's rate, encoded into the target's container."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format=target.container) as container:
        stream: Any = container.add_stream(target.codec, rate=target.rate)
        stream.layout = target.layout
        if target.bit_rate:
            stream.bit_rate = target.bit_rate
        width = 2 * (1 if target.layout == "mono" else 2)
        chunk = 1024 * width
        for start in range(0, len(pcm), chunk):
            piece = pcm[start:start + chunk]
            piece += b"\x00" * ((-len(piece)) % width)
            frame = av.AudioFrame(format="s16", layout=target.layout, samples=len(piece) // width)
            frame.planes[0].update(piece)
            frame.sample_rate = target.rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def convert(data: bytes, target: Target, max_seconds: float = 0.0) -> list[Clip]:
    """`data` (any format) as `target`, in clips of at most `max_seconds` each (0: one clip).
    CPU work: call it through `asyncio.to_thread`. PyAV is loaded at the first call, not at
    start-up: FFmpeg's libraries are ~19 MB of RSS that a service without voice never needs."""
    import av.error

    try:
        pcm = _pcm(_samples(data, target.rate, target.layout))
        if not pcm:
            raise ValueError("no audio samples")
        per_second = target.rate * 2 * (1 if target.layout == "mono" else 2)
        step = int(max_seconds * per_second) // 2 * 2 if max_seconds else len(pcm)
        return [Clip(_encode(pcm[i:i + step], target), target.mime,
                     len(pcm[i:i + step]) / per_second) for i in range(0, len(pcm), step)]
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise UpstreamError(f"audio could not be converted: {type(exc).__name__}: {exc}"[:300],
                            kind=ErrorKind.AUDIO_FORMAT) from exc


async def transcribable(data: bytes, mime: str, name: str = "") -> tuple[bytes, str, str]:
    """(bytes, file name, MIME) the endpoint accepts, converting in process when needed."""
    ext = extension(mime, name)
    if ext in ACCEPTED:
        return data, f"audio.{ext}", mime
    clips = await asyncio.to_thread(convert, data, MP3)
    return clips[0].data, "audio.mp3", MP3.mime
