"""`POST /api/chat`: `{"user", "text", "stream", "async"}` → `{"reply"}`, an NDJSON stream, or 202."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from adapters.webhook.auth import BearerAuth
from adapters.webhook.callback import CallbackSender
from adapters.webhook.idempotency import HEADER, Idempotency, Stored, read_key
from adapters.webhook.settings import WebhookSettings
from adapters.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from adapters.webhook.stream import NDJSONReplier, sources_json
from bot.errors import BadRequest, ErrorKind, Forbidden, StorageUnavailable
from bot.messages import Audio, Conversation, Image, Incoming
from bot.payload import json_object
from bot.platform import Services
from bot.replier import CollectingReplier

log = logging.getLogger(__name__)

PLATFORM = "webhook"
ASYNC_JOB = "webhook.async"
MAX_USER_CHARS = 128


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated `/api/chat` body."""

    user: str
    text: str
    stream: bool
    later: bool  # "async": true - answer 202 now, POST the reply to the callback URL
    voice: bool = False  # "voice_reply": true - the answer also comes spoken ("audio")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """Read (over client_max_size aiohttp raises 413, answered as JSON) and parse the body."""
    return json_object(await request.read())


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    """Validate the fields of a chat request."""
    user, text = body.get("user"), body.get("text")
    stream, later = body.get("stream", False), body.get("async", False)
    voice = body.get("voice_reply", False)
    if not isinstance(user, str) or not user.strip():
        raise BadRequest("'user' must be a non-empty string")
    if len(user) > MAX_USER_CHARS:
        raise BadRequest(f"'user' must be at most {MAX_USER_CHARS} characters")
    if not isinstance(text, str):
        raise BadRequest("'text' must be a string")
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false")
    if not isinstance(later, bool):
        raise BadRequest("'async' must be true or false")
    if not isinstance(voice, bool):
        raise BadRequest("'voice_reply' must be true or false")
    if stream and later:
        raise BadRequest("'stream' and 'async' cannot both be true")
    return ChatRequest(user.strip(), text, stream, later, voice)


def audio_json(audio: Audio) -> dict[str, str]:
    """A spoken answer as JSON: its MIME type and base64 bytes."""
    return {"mime": audio.mime, "b64": base64.b64encode(audio.data).decode()}


def image_json(image: Image) -> dict[str, str]:
    """A reply picture as JSON: base64 bytes, or the URL the model returned."""
    if image.data is not None:
        return {"mime": image.mime, "b64": base64.b64encode(image.data).decode()}
    return {"mime": image.mime, "url": image.url or ""}


class ChatEndpoint:
    """Bearer- or HMAC-authenticated chat; history is kept per `user`."""

    def __init__(self, services: Services, settings: WebhookSettings, auth: BearerAuth) -> None:
        self._services = services
        self._auth = auth
        self._hmac_secret = settings.hmac_secret.reveal()
        self._callback = (CallbackSender(services.http, settings.callback_url,
                                         settings.callback_secret.reveal(),
                                         first_delay=settings.callback_retry_seconds)
                          if settings.callback_url else None)
        self._idempotency = Idempotency(services.storage, services.settings.llm.timeout + 5)
        services.jobs.register(ASYNC_JOB, self._run_job)

    def authenticate(self, request: web.Request, raw: bytes) -> str:
        """Who is calling (a scope for idempotency keys): a bearer key's hash, or "hmac"."""
        if self._hmac_secret and SIGNATURE_HEADER in request.headers:
            verify(self._hmac_secret, request.headers.get(TIMESTAMP_HEADER, ""),
                   request.headers[SIGNATURE_HEADER], raw, time.time())
            return "hmac"
        self._auth.check(request)
        token = request.headers["Authorization"].partition(" ")[2].strip()
        return hashlib.sha256(token.encode()).hexdigest()[:16]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Authenticate, validate, then answer whole, streamed, or later."""
        raw = await request.read()
        scope = self.authenticate(request, raw)
        chat = parse_chat(json_object(raw))
        key = read_key(request.headers.get(HEADER))
        incoming = Incoming(platform=PLATFORM, conversation=Conversation(PLATFORM, chat.user),
                            user_id=chat.user, text=chat.text, user_name=chat.user,
                            voice_reply=chat.voice)
        if chat.stream:
            if key:
                raise BadRequest(f"{HEADER} is not supported with 'stream': true")
            return await self._stream(request, incoming)
        if not key:
            answer = await (self._accept(chat, scope, uuid.uuid4().hex) if chat.later
                            else self._answer(incoming))
            return web.json_response(answer.body, status=answer.status)
        async with self._idempotency.claimed(scope, key) as claim:
            if isinstance(claim, Stored):
                replayed = {"Idempotent-Replayed": "true"} if claim.status != 409 else {}
                return web.json_response(claim.body, status=claim.status, headers=replayed)
            answer = await (self._accept(chat, scope, key) if chat.later else self._answer(incoming))
            if answer.status >= 500:  # an upstream failure: a retry of the request may succeed
                await self._idempotency.abandon(scope, key, claim)
            else:
                await self._idempotency.finish(scope, key, claim, answer)
        return web.json_response(answer.body, status=answer.status)

    async def _answer(self, incoming: Incoming) -> Stored:
        replier = CollectingReplier()
        ctx = await self._services.pipeline.handle(incoming, replier)
        reply = replier.reply
        if reply is None:  # the pipeline stays silent only for blocked users
            raise Forbidden("this user is blocked by the operator")
        if not reply.ok:
            kind = ctx.failure or ErrorKind.INTERNAL
            return Stored(kind.status, {"error": {"message": reply.text, "type": kind.value}})
        body: dict[str, Any] = {"reply": reply.text}
        if reply.images:
            body["images"] = [image_json(i) for i in reply.images]
        if reply.sources:
            body["sources"] = sources_json(reply.sources)
        if reply.audio is not None:
            body["audio"] = audio_json(reply.audio)
        if reply.kind == "refused":  # a content-policy refusal: a friendly text, not a failure
            body["refused"] = True
        return Stored(200, body)

    async def _accept(self, chat: ChatRequest, scope: str, key: str) -> Stored:
        """Record the job durably (any instance may run it), then acknowledge. The job's id is
        scoped by credential: two callers using the same key get two jobs and two callbacks."""
        if self._callback is None:
            raise BadRequest("'async' needs api.callback_url (BOT_CALLBACK_URL) in the config")
        job = {"id": f"{scope}.{key}", "key": key, "user": chat.user, "text": chat.text,
               "voice_reply": chat.voice}
        try:
            await self._services.jobs.enqueue(ASYNC_JOB, job)
        except StorageUnavailable:
            # Redis is down: still answer, from this instance's memory.
            self._services.tasks.spawn(self._run_job(job, fail_open=True),
                                       name=f"webhook-async-{job['id']}")
        return Stored(202, {"accepted": True, "id": job["id"]})

    async def _run_job(self, job: dict[str, Any], fail_open: bool = False) -> None:
        """Answer and deliver once: the job's own claim (renewed while it runs) stops a re-run,
        or a second run at once, from posting twice; a run that died is taken over. A queued job
        whose claim cannot be taken (storage down) fails and is retried by the queue."""
        if self._callback is None:
            return
        async with self._idempotency.claimed("job", job["id"], fail_open) as claim:
            if isinstance(claim, Stored):
                return  # delivered already, or being delivered by a live run
            incoming = Incoming(platform=PLATFORM, conversation=Conversation(PLATFORM, job["user"]),
                                user_id=job["user"], text=job["text"], user_name=job["user"],
                                voice_reply=bool(job.get("voice_reply")))
            try:
                answer = await self._answer(incoming)
            except Forbidden:
                answer = Stored(403, {"error": {"message": "blocked", "type": "Forbidden"}})
            else:
                payload = {"id": job["id"], "key": job.get("key", ""), "user": job["user"],
                           "status": answer.status, **answer.body}
                await self._callback.deliver(job["id"], payload)
            await self._idempotency.finish("job", job["id"], claim, Stored(200, {"ran": True}))

    async def _stream(self, request: web.Request, incoming: Incoming) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "application/x-ndjson; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx would otherwise hold the stream back
        })
        await response.prepare(request)
        replier = NDJSONReplier(response)
        await self._services.pipeline.handle(incoming, replier)
        await replier.flushed()
        try:
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            log.info("api/chat: client left before the end of the stream")
        return response
