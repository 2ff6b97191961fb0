"""Audio formats: what the transcription endpoint takes, and ffmpeg for the rest (e.g. AMR)."""

from __future__ import annotations

import asyncio
import shutil

from bot.errors import UpstreamError

# The transcription endpoint takes these (by file name extension, per the OpenAI SDK docs).
ACCEPTED = {"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "opus", "wav", "webm"}
_EXTENSIONS = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
    "audio/ogg": "ogg", "audio/opus": "ogg", "audio/wav": "wav", "audio/x-wav": "wav",
    "audio/webm": "webm", "audio/flac": "flac", "audio/amr": "amr", "audio/speex": "speex",
}
FFMPEG_SECONDS = 30.0


def extension(mime: str, name: str = "") -> str:
    """The file extension for a MIME type (or the name's own extension)."""
    if "." in name:
        return name.rsplit(".", 1)[1].lower()
    return _EXTENSIONS.get(mime.split(";")[0].strip().lower(), "bin")


async def transcribable(data: bytes, mime: str, name: str = "") -> tuple[bytes, str, str]:
    """(bytes, file name, MIME) the endpoint accepts, converting with ffmpeg when needed."""
    ext = extension(mime, name)
    if ext in ACCEPTED:
        return data, f"audio.{ext}", mime
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise UpstreamError(f"audio format {ext!r} needs ffmpeg, which is not installed",
                            kind="audio_format")
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-f", "mp3", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), FFMPEG_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise UpstreamError("ffmpeg took too long", kind="audio_format") from None
    if proc.returncode != 0 or not out:
        detail = err.decode(errors="replace").strip()[:200]
        raise UpstreamError(f"ffmpeg could not convert {ext!r}: {detail}", kind="audio_format")
    return out, "audio.mp3", "audio/mpeg"
