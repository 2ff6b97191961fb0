"""`POST /api/chat`: `{"user", "text", "stream", "async"}` → `{"reply"}`, an NDJSON stream, or 202."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from adapters.webhook.auth import BearerAuth
from adapters.webhook.callback import CallbackSender
from adapters.webhook.idempotency import HEADER, Idempotency, Stored, read_key
from adapters.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from adapters.webhook.stream import NDJSONReplier, sources_json
from bot.errors import BadRequest, Forbidden, StorageUnavailable
from bot.messages import Conversation, Image, Incoming
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


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or BadRequest saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    except RecursionError:  # the parser recurses per level: deep nesting exhausts the stack
        raise BadRequest("body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """Read (over client_max_size aiohttp raises 413, answered as JSON) and parse the body."""
    return parse_json_object(await request.read())


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    """Validate the fields of a chat request."""
    user, text = body.get("user"), body.get("text")
    stream, later = body.get("stream", False), body.get("async", False)
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
    if stream and later:
        raise BadRequest("'stream' and 'async' cannot both be true")
    return ChatRequest(user.strip(), text, stream, later)


def image_json(image: Image) -> dict[str, str]:
    """A reply picture as JSON: base64 bytes, or the URL the model returned."""
    if image.data is not None:
        return {"mime": image.mime, "b64": base64.b64encode(image.data).decode()}
    return {"mime": image.mime, "url": image.url or ""}


class ChatEndpoint:
    """Bearer- or HMAC-authenticated chat; history is kept per `user`."""

    def __init__(self, services: Services, auth: BearerAuth) -> None:
        api = services.settings.section.section("api")
        self._services = services
        self._auth = auth
        self._hmac_secret = api.secret("hmac_secret", env="BOT_API_HMAC_SECRET").reveal()
        callback_url = api.url("callback_url", "", env="BOT_CALLBACK_URL")
        secret = api.secret("callback_secret", env="BOT_CALLBACK_SECRET").reveal()
        retry = api.number("callback_retry_seconds", 1.0, minimum=0.01)
        self._callback = (CallbackSender(services.http, callback_url, secret or self._hmac_secret,
                                         first_delay=retry) if callback_url else None)
        self._idempotency = Idempotency(services.storage, services.settings.llm.timeout + 5)
        services.jobs.register(ASYNC_JOB, self._run_job)

    def _authenticate(self, request: web.Request, raw: bytes) -> str:
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
        scope = self._authenticate(request, raw)
        chat = parse_chat(parse_json_object(raw))
        key = read_key(request.headers.get(HEADER))
        incoming = Incoming(platform=PLATFORM, conversation=Conversation(PLATFORM, chat.user),
                            user_id=chat.user, text=chat.text, user_name=chat.user)
        if chat.stream:
            if key:
                raise BadRequest(f"{HEADER} is not supported with 'stream': true")
            return await self._stream(request, incoming)
        if key and (earlier := await self._idempotency.begin(scope, key)) is not None:
            return web.json_response(earlier.body, status=earlier.status,
                                     headers={"Idempotent-Replayed": "true"})
        try:
            if chat.later:
                answer = await self._accept(chat, key or uuid.uuid4().hex)
            else:
                answer = await self._answer(incoming)
        except BaseException:
            if key:
                await self._idempotency.abandon(scope, key)
            raise
        if key:
            await self._idempotency.finish(scope, key, answer)
        return web.json_response(answer.body, status=answer.status)

    async def _answer(self, incoming: Incoming) -> Stored:
        replier = CollectingReplier()
        ctx = await self._services.pipeline.handle(incoming, replier)
        reply = replier.reply
        if reply is None:  # the pipeline stays silent only for blocked users
            raise Forbidden("this user is blocked by the operator")
        if not reply.ok:
            kind = ctx.outcome.removeprefix("error:")
            return Stored(502, {"error": {"message": reply.text, "type": kind}})
        body: dict[str, Any] = {"reply": reply.text}
        if reply.images:
            body["images"] = [image_json(i) for i in reply.images]
        if reply.sources:
            body["sources"] = sources_json(reply.sources)
        return Stored(200, body)

    async def _accept(self, chat: ChatRequest, delivery_id: str) -> Stored:
        """Record the job durably (any instance may run it), then acknowledge."""
        if self._callback is None:
            raise BadRequest("'async' needs api.callback_url (BOT_CALLBACK_URL) in the config")
        job = {"id": delivery_id, "user": chat.user, "text": chat.text}
        try:
            await self._services.jobs.enqueue(ASYNC_JOB, job)
        except StorageUnavailable:
            # Redis is down: still answer, from this instance's memory.
            self._services.tasks.spawn(self._run_job(job), name=f"webhook-async-{delivery_id}")
        return Stored(202, {"accepted": True, "id": delivery_id})

    async def _run_job(self, job: dict[str, Any]) -> None:
        """Answer and deliver once: a delivery record stops a re-run job from posting twice."""
        if self._callback is None:
            return
        delivered = f"webhook:delivered:{job['id']}"
        with contextlib.suppress(StorageUnavailable):
            if await self._services.storage.get(delivered) is not None:
                return
        incoming = Incoming(platform=PLATFORM, conversation=Conversation(PLATFORM, job["user"]),
                            user_id=job["user"], text=job["text"], user_name=job["user"])
        try:
            answer = await self._answer(incoming)
        except Forbidden:
            return
        payload = {"id": job["id"], "user": job["user"], "status": answer.status, **answer.body}
        if await self._callback.deliver(job["id"], payload):
            with contextlib.suppress(StorageUnavailable):
                await self._services.storage.set(delivered, "1", 24 * 3600.0)

    async def _stream(self, request: web.Request, incoming: Incoming) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "application/x-ndjson; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx would otherwise hold the stream back
        })
        await response.prepare(request)
        await self._services.pipeline.handle(incoming, NDJSONReplier(response))
        try:
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            log.info("api/chat: client left before the end of the stream")
        return response
