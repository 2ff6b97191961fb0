"""The OpenAI client's media calls (speech in and out, pictures made and edited), as a part of
`OpenAILLM` kept apart so each module stays small."""

from __future__ import annotations

import asyncio
import base64

import openai

from bot.errors import ErrorKind, UpstreamError
from bot.llm_wire import map_error
from bot.messages import Image
from bot.settings import LLMSettings
from bot.usage import meter

SPEECH_MAX_CHARS = 4096  # the speech endpoint's input cap (tts-1)
_NAMES = {"image/png": "image.png", "image/jpeg": "image.jpg", "image/jpg": "image.jpg",
          "image/webp": "image.webp"}


class MediaCalls:
    """Transcription, speech, image generation and edits on the shared client."""

    _client: openai.AsyncOpenAI
    _settings: LLMSettings
    _slots: asyncio.Semaphore

    async def transcribe(self, audio: bytes, filename: str, mime: str) -> str:
        """One transcription (multipart upload)."""
        async with self._slots:
            try:
                result = await self._client.audio.transcriptions.create(
                    file=(filename, audio, mime), model=self._settings.transcribe_model)
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        meter.record_speech(self._settings.transcribe_model)
        return result.text.strip()

    async def speak(self, text: str) -> bytes:
        """`audio/speech` as mp3 (the neutral format; adapters convert what their platform
        needs); the input is cut to the endpoint's cap."""
        async with self._slots:
            try:
                response = await self._client.audio.speech.create(
                    model=self._settings.speech_model, voice=self._settings.voice,
                    input=text[:SPEECH_MAX_CHARS], response_format="mp3")
                audio = await response.aread()
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        meter.record_speech(self._settings.speech_model)
        if not audio:
            raise UpstreamError("the speech endpoint returned no audio", kind=ErrorKind.LLM_EMPTY)
        return audio

    async def generate_image(self, prompt: str) -> Image:
        """One generated picture, as bytes when the model returns base64 (GPT image models do)."""
        async with self._slots:
            try:
                result = await self._client.images.generate(
                    prompt=prompt, model=self._settings.image_model,
                    size=self._settings.image_size,
                )
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        meter.record_image(self._settings.image_model)
        return _picture_of(result)

    async def edit_image(self, picture: Image, prompt: str) -> Image:
        """`images/edits` with the user's picture (PNG, JPEG or WebP) and the prompt."""
        if picture.data is None:
            raise UpstreamError("the picture to edit has no bytes", kind=ErrorKind.LLM_BAD_REQUEST)
        name = _NAMES.get(picture.mime, "image.png")
        async with self._slots:
            try:
                result = await self._client.images.edit(
                    image=(name, picture.data, picture.mime), prompt=prompt,
                    model=self._settings.image_model)
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        meter.record_image(self._settings.image_model)
        return _picture_of(result)


def _picture_of(result: openai.types.ImagesResponse) -> Image:
    first = result.data[0] if result.data else None
    if first is not None and first.b64_json:
        return Image(data=base64.b64decode(first.b64_json), mime="image/png")
    if first is not None and first.url:
        return Image(url=first.url)
    raise UpstreamError("the image endpoint returned no picture", kind=ErrorKind.LLM_EMPTY)
