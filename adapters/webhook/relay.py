"""`POST /v1/chat/completions`: an OpenAI-compatible relay guarded by the service's own keys."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from adapters.webhook.auth import BearerAuth
from adapters.webhook.chat import read_json_object
from adapters.webhook.relay_controls import RelayControls
from adapters.webhook.relay_moderation import (
    StreamModerator,
    moderate_whole,
    prompt_text,
    refuse_request,
)
from adapters.webhook.settings import RelaySettings
from bot.errors import BadRequest, ErrorKind, UpstreamError
from bot.moderation import Moderation
from bot.platform import Services

log = logging.getLogger(__name__)

_PASS_HEADERS = ("Content-Type", "Cache-Control", "X-Request-Id", "OpenAI-Processing-Ms")


def _validate(body: dict[str, Any], default_model: str) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise BadRequest("each message must be an object with a 'role'")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise BadRequest("'stream' must be true or false")
    if not isinstance(body.get("model", default_model), str):
        raise BadRequest("'model' must be a string")
    return {**body, "model": body.get("model") or default_model}


class Relay:
    """Forwards chat completions with the upstream key; SSE is streamed through as it arrives.

    The bot's controls apply first (`relay:` limits per key, the model allow-list, the input
    cap), then, with `moderation.relay: true`, the same moderation policy as the chat.
    """

    def __init__(self, services: Services, controls: RelaySettings, auth: BearerAuth) -> None:
        settings = services.settings.llm
        self._services = services
        self._auth = auth
        self._controls = RelayControls(controls, settings, services.storage)
        self._moderation = services.moderation if services.settings.moderation.relay else None
        self._url = f"{settings.base_url}/chat/completions"
        self._key = settings.api_key.reveal()
        self._model = settings.model
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout,
                                              sock_read=settings.timeout)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Authenticate with our keys, then relay to the upstream with its key."""
        self._auth.check(request)
        body = _validate(await read_json_object(request), self._model)
        refused = self._controls.check_body(body) or await self._controls.count(
            request.headers["Authorization"].partition(" ")[2].strip())
        if refused is not None:
            return refused
        if self._moderation is not None and self._moderation.input_on:
            verdict = await self._moderation.check(prompt_text(body), "input")
            if verdict.refuse:
                log.info("relay: request refused (flagged by %s)",
                         ",".join(verdict.flagged_by) or "a failed provider")
                key = "moderation_unavailable" if verdict.unavailable else "moderation_input"
                return await refuse_request(request, body, self._services.texts.get(key))
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        try:
            async with self._services.http.post(
                self._url, data=json.dumps(body), headers=headers, timeout=self._timeout
            ) as upstream:
                if upstream.status >= 400:
                    return await self._upstream_error(upstream)
                if self._moderation is not None and self._moderation.output_on:
                    return await self._moderated(self._moderation, request, upstream,
                                                 bool(body.get("stream")))
                return await self._pipe(request, upstream)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(f"relay: upstream unreachable: {type(exc).__name__}",
                                kind=ErrorKind.LLM_UNREACHABLE) from exc

    async def _pipe(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        """Copy the upstream's answer (SSE or JSON) to our client chunk by chunk."""
        response = web.StreamResponse(status=upstream.status, headers={
            name: upstream.headers[name] for name in _PASS_HEADERS if name in upstream.headers
        })
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            # Headers are gone already: all we can do is end the stream and log why.
            log.warning("relay: stream cut short: %s", type(exc).__name__)
        return response

    async def _moderated(self, moderation: Moderation, request: web.Request,
                         upstream: aiohttp.ClientResponse, stream: bool) -> web.StreamResponse:
        """The upstream's answer with the output policy applied (whole, or event by event)."""
        refusal = self._services.texts.get("moderation_output")
        if not stream:
            try:
                answer = await upstream.json(content_type=None)
            except ValueError as exc:
                raise UpstreamError("relay: the upstream answer is not JSON",
                                    kind=ErrorKind.LLM_SERVER) from exc
            if isinstance(answer, dict):
                await moderate_whole(moderation, answer, refusal)
            return web.json_response(answer, status=upstream.status)
        response = web.StreamResponse(status=upstream.status, headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            await StreamModerator(moderation, refusal).pipe(upstream, response)
            await response.write_eof()
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            log.warning("relay: stream cut short: %s", type(exc).__name__)
        return response

    async def _upstream_error(self, upstream: aiohttp.ClientResponse) -> web.Response:
        """Pass the upstream's error through, minus anything about our upstream credentials."""
        try:
            error = (await upstream.json(content_type=None)).get("error") or {}
        except (ValueError, AttributeError, aiohttp.ClientError):
            error = {}
        if upstream.status in (401, 403):
            log.error("relay: the upstream refused our API key (HTTP %s)", upstream.status)
            return web.json_response({"error": {
                "message": "the service's upstream credentials were refused",
                "type": "upstream_auth_error", "code": None}}, status=502)
        message = str(error.get("message") or f"upstream answered HTTP {upstream.status}")
        if self._key:
            message = message.replace(self._key, "***")
        return web.json_response({"error": {
            "message": message, "type": error.get("type") or "upstream_error",
            "code": error.get("code"),
        }}, status=upstream.status)
