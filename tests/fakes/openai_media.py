"""The fake OpenAI's media endpoints (transcription, speech, image generation and edits), kept
apart from the chat endpoint so each module stays small; `FakeOpenAI` holds the knobs."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fakes.audio import tone

# A 1x1 transparent PNG.
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
           "60e6kgAAAABJRU5ErkJggg==")

ERRORS: dict[int, dict[str, Any]] = {
    401: {"message": "Incorrect API key provided: sk-xxx.", "type": "invalid_request_error",
          "param": None, "code": "invalid_api_key"},
    429: {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "param": None,
          "code": "rate_limit_exceeded"},
    500: {"message": "The server had an error while processing your request.",
          "type": "server_error", "param": None, "code": None},
    503: {"message": "The engine is currently overloaded, please try again later",
          "type": "server_error", "param": None, "code": None},
}


class MediaEndpoints:
    """Request handlers; the knobs and records (`transcript`, `speeches`…) are `FakeOpenAI`'s."""

    fail_next: list[int]
    transcript: str
    uploads: list[dict[str, Any]]
    speech_fail_next: list[int]
    speech_seconds: float
    speeches: list[dict[str, Any]]
    edits: list[dict[str, Any]]
    images: list[dict[str, Any]]
    refuse_images: bool
    picture_b64: str

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        data = upload.file.read()
        self.uploads.append({"model": str(form["model"]), "filename": upload.filename,
                             "content_type": upload.content_type, "size": len(data)})
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"error": ERRORS[status]}, status=status)
        return web.json_response({"text": self.transcript, "usage": {"type": "duration", "seconds": 2}})

    async def _speech(self, request: web.Request) -> web.Response:
        """`POST /v1/audio/speech`: a tone of `speech_seconds` in the asked format (mp3, opus)."""
        body = await request.json()
        self.speeches.append(body)
        if self.speech_fail_next:
            status = self.speech_fail_next.pop(0)
            return web.json_response({"error": ERRORS[status]}, status=status)
        audio = await asyncio.to_thread(tone, self.speech_seconds, body.get("response_format", "mp3"))
        mime = "audio/ogg" if body.get("response_format") == "opus" else "audio/mpeg"
        return web.Response(body=audio, content_type=mime)

    async def _edit(self, request: web.Request) -> web.Response:
        """`POST /v1/images/edits` (multipart `image`, `prompt`, `model`): the edited picture."""
        form = await request.post()
        upload = form["image"] if "image" in form else form["image[]"]
        assert isinstance(upload, web.FileField)
        data = upload.file.read()
        self.edits.append({"prompt": str(form["prompt"]), "model": str(form.get("model", "")),
                           "filename": upload.filename, "content_type": upload.content_type,
                           "image": data})
        return self._picture()

    async def _image(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.images.append(body)
        return self._picture()

    def _picture(self) -> web.Response:
        if self.refuse_images:
            return web.json_response({"error": {
                "message": "Your request was rejected by the safety system.",
                "type": "image_generation_user_error", "param": None,
                "code": "content_policy_violation"}}, status=400)
        return web.json_response({"created": 1713833628, "data": [{"b64_json": self.picture_b64}],
                                  "usage": {"total_tokens": 100, "input_tokens": 50,
                                            "output_tokens": 50,
                                            "input_tokens_details": {"text_tokens": 50,
                                                                     "image_tokens": 0}}})
