"""Audio for the fakes and tests, with PyAV: the speech tone, an AMR voice note, how long a clip plays."""

from __future__ import annotations

import io
import math
import random
from typing import Any

import av
import numpy as np


def tone(seconds: float, response_format: str = "mp3") -> bytes:
    """A 440 Hz tone of `seconds`, encoded as the speech endpoint would (mp3, or ogg/opus)."""
    rate = 24000
    samples = (np.sin(np.arange(int(rate * seconds)) * 2 * math.pi * 440 / rate) * 8000)
    pcm = samples.astype("<i2").reshape(1, -1)
    container, codec = ("ogg", "libopus") if response_format == "opus" else ("mp3", "libmp3lame")
    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as muxer:
        stream: Any = muxer.add_stream(codec, rate=rate)
        stream.layout = "mono"
        for start in range(0, pcm.shape[1], 4800):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, start:start + 4800]),
                                               format="s16", layout="mono")
            frame.sample_rate = rate
            muxer.mux(stream.encode(frame))
        muxer.mux(stream.encode(None))
    return out.getvalue()


def amr_noise(frames: int = 50) -> bytes:
    """A valid AMR-NB file: 12.2 kbit/s frames (header 0x3c + 31 bytes) of random payload."""
    rng = random.Random(7)
    return b"#!AMR\n" + b"".join(b"\x3c" + rng.randbytes(31) for _ in range(frames))


def audio_seconds(data: bytes) -> float:
    """How long an audio file plays (decoded, so a wrong header cannot lie)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        seconds = 0.0
        for frame in container.decode(audio=0):
            seconds += frame.samples / frame.sample_rate
        return seconds
