"""The moderation policy on the relay (`moderation.relay: true`), in the OpenAI wire format.

A refused request is answered 200 with the refusal as the assistant's text and
`finish_reason: "content_filter"` (no upstream call). Whole answers are judged and masked or
replaced. Streamed answers go through the term filter chunk by chunk; an answer flagged once part
of it went out (SSE cannot take text back) ends with the refusal and `content_filter`, which
tells a client to drop it.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from adapters.webhook.relay_controls import message_text
from bot.moderation import Moderation, StreamFilter

log = logging.getLogger(__name__)

FILTERED = "content_filter"
_JUDGED_ROLES = ("system", "developer", "user")  # what the caller wrote, not earlier answers


def prompt_text(body: dict[str, Any]) -> str:
    """The text a relay request brings in: every system, developer and user message."""
    return "\n\n".join(message_text(m) for m in body["messages"] if m.get("role") in _JUDGED_ROLES)


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"id": "chatcmpl-moderated", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


async def refuse_request(request: web.Request, body: dict[str, Any],
                         text: str) -> web.StreamResponse:
    """The refusal as a completion (or a two-chunk stream) of the requested model."""
    model = body["model"]
    if not body.get("stream"):
        return web.json_response({
            "id": "chatcmpl-moderated", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": FILTERED}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in (_chunk(model, {"role": "assistant", "content": text}, None),
                  _chunk(model, {}, FILTERED)):
        await response.write(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def moderate_whole(moderation: Moderation, answer: dict[str, Any], refusal: str) -> None:
    """Mask or replace each choice's text in a chat.completion body, in place."""
    for choice in answer.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            continue
        verdict = await moderation.check(message["content"], "output")
        if verdict.refuse:
            message["content"], choice["finish_reason"] = refusal, FILTERED
        else:
            message["content"] = verdict.text
        if verdict.flagged:
            log.info("relay: answer %s (flagged by %s)", "refused" if verdict.refuse else "masked",
                     ",".join(verdict.flagged_by) or "a failed provider")


class StreamModerator:
    """Rewrites an SSE stream of chat.completion.chunk events, one filter per choice."""

    def __init__(self, moderation: Moderation, refusal: str) -> None:
        self._moderation = moderation
        self._refusal = refusal
        self._refusing = moderation.settings.output == "refuse"
        self._filters: dict[int, StreamFilter] = {}
        self._texts: dict[int, list[str]] = {}
        self._shown: dict[int, bool] = {}
        self._stopped: set[int] = set()

    async def pipe(self, upstream: aiohttp.ClientResponse, response: web.StreamResponse) -> None:
        """Read `data:` lines, write the moderated events (other lines pass unchanged)."""
        async for raw in upstream.content:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.startswith("data:"):
                if line:
                    await response.write(f"{line}\n\n".encode())
                continue
            data = line[5:].strip()
            if data != "[DONE]":
                try:
                    event = json.loads(data)
                except json.JSONDecodeError:
                    continue  # not an event a client could read either
                if isinstance(event, dict) and isinstance(event.get("choices"), list):
                    await self._rewrite(event)
                data = json.dumps(event, ensure_ascii=False)
            await response.write(f"data: {data}\n\n".encode())

    async def _rewrite(self, event: dict[str, Any]) -> None:
        for choice in event["choices"]:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else None
            if delta is not None and isinstance(delta.get("content"), str):
                delta["content"] = self._feed(index, delta["content"])
            if choice.get("finish_reason"):
                await self._finish(index, choice)

    def _feed(self, index: int, text: str) -> str:
        stream = self._filters.setdefault(index, self._moderation.stream_filter())
        self._texts.setdefault(index, []).append(text)
        if index in self._stopped:
            return ""
        safe = stream.feed(text)
        if self._refusing and stream.terms:
            self._stopped.add(index)
            return ""
        self._shown[index] = self._shown.get(index, False) or bool(safe)
        return safe

    async def _finish(self, index: int, choice: dict[str, Any]) -> None:
        """The held-back tail, or the refusal when the whole answer is flagged."""
        stream = self._filters.setdefault(index, self._moderation.stream_filter())
        tail = stream.flush()
        verdict = await self._moderation.check("".join(self._texts.get(index, ())), "output")
        delta = choice.setdefault("delta", {})
        late = verdict.late_masks or not set(verdict.terms) <= stream.terms
        if verdict.refuse or index in self._stopped or late:
            shown = self._shown.get(index, False)
            delta["content"] = ("\n\n" if shown else "") + self._refusal
            choice["finish_reason"] = FILTERED
            log.info("relay: streamed answer %s (flagged by %s)",
                     "cut short" if shown else "refused",
                     ",".join(verdict.flagged_by) or "a failed provider")
        elif tail and index not in self._stopped:
            delta["content"] = (delta.get("content") or "") + tail
