"""`POST /api/chat`: `{"user", "text", "stream"}` → `{"reply"}` or an NDJSON stream."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from adapters.webhook.auth import BearerAuth
from bot.errors import BadRequest, Forbidden
from bot.messages import Conversation, Incoming, Reply
from bot.platform import Services
from bot.replier import CollectingReplier, as_is

log = logging.getLogger(__name__)

PLATFORM = "webhook"
MAX_USER_CHARS = 128


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated `/api/chat` body."""

    user: str
    text: str
    stream: bool


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or BadRequest saying what is wrong with it."""
    raw = await request.read()  # over client_max_size aiohttp raises 413, answered as JSON
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    """Validate the fields of a chat request."""
    user, text, stream = body.get("user"), body.get("text"), body.get("stream", False)
    if not isinstance(user, str) or not user.strip():
        raise BadRequest("'user' must be a non-empty string")
    if len(user) > MAX_USER_CHARS:
        raise BadRequest(f"'user' must be at most {MAX_USER_CHARS} characters")
    if not isinstance(text, str):
        raise BadRequest("'text' must be a string")
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false")
    return ChatRequest(user.strip(), text, stream)


class NDJSONReplier:
    """Writes each delta as a line, then an error line if the reply failed, then the done line."""

    streams = True

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        self._sent_text = False
        self._gone = False

    def format(self, markdown: str) -> str:
        """The API returns markdown as is."""
        return as_is(markdown)

    async def started(self) -> None:
        """Nothing to show before the first token."""

    async def _line(self, done: bool, error: bool, content: str) -> None:
        if self._gone:
            return
        line = json.dumps({"done": done, "error": error, "content": content}, ensure_ascii=False)
        try:
            await self._response.write(line.encode() + b"\n")
        except (ConnectionError, RuntimeError):
            # The client went away: keep going quietly so the answer still reaches history.
            self._gone = True

    async def delta(self, text: str) -> None:
        """One content line."""
        self._sent_text = True
        await self._line(False, False, text)

    async def send(self, reply: Reply) -> None:
        """The closing lines."""
        if not reply.ok:
            await self._line(False, True, reply.text)
        elif not self._sent_text:  # commands and notices arrive whole
            await self._line(False, False, reply.text)
        await self._line(True, False, "[DONE]")


class ChatEndpoint:
    """Bearer-authenticated chat; history is kept per `user`."""

    def __init__(self, services: Services, auth: BearerAuth) -> None:
        self._services = services
        self._auth = auth

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Authenticate, validate, run the pipeline."""
        self._auth.check(request)
        chat = parse_chat(await read_json_object(request))
        incoming = Incoming(
            platform=PLATFORM,
            conversation=Conversation(PLATFORM, chat.user),
            user_id=chat.user,
            text=chat.text,
            user_name=chat.user,
        )
        if chat.stream:
            return await self._stream(request, incoming)
        replier = CollectingReplier()
        ctx = await self._services.pipeline.handle(incoming, replier)
        reply = replier.reply
        if reply is None:  # the pipeline stays silent only for blocked users
            raise Forbidden("this user is blocked by the operator")
        if not reply.ok:
            kind = ctx.outcome.removeprefix("error:")
            return web.json_response({"error": {"message": reply.text, "type": kind}}, status=502)
        return web.json_response({"reply": reply.text})

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
