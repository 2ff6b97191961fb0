"""A fake OpenAI API: chat completions (JSON and SSE), error bodies, latency; records requests.
The media endpoints are in `openai_media`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from tests.fakes.openai_media import ERRORS, PNG_B64, MediaEndpoints
from tests.fakes.server import LoopbackServer

__all__ = ["ERRORS", "PNG_B64", "FakeOpenAI"]  # the error bodies and picture tests compare with

EMBEDDING_DIMS = 64
ToolScript = Callable[[dict[str, Any]], list[tuple[str, dict[str, Any] | str]] | None]
"""Given a chat request, the tool calls to answer with ((name, arguments or raw JSON text)…),
or None to answer with text."""


def embedding(text: str, dims: int = EMBEDDING_DIMS) -> list[float]:
    """A deterministic bag-of-words vector: texts that share words point the same way."""
    vector = np.zeros(dims, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "little") % dims] += 1.0
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).tolist()


def call_once(name: str, arguments: dict[str, Any] | str) -> ToolScript:
    """Ask for one tool call, then (once a tool result is in the conversation) answer in text."""
    def script(body: dict[str, Any]) -> list[tuple[str, dict[str, Any] | str]] | None:
        if any(m.get("role") == "tool" for m in body["messages"]):
            return None
        return [(name, arguments)]
    return script


def last_tool_result(body: dict[str, Any]) -> str:
    """A reply that quotes the newest tool result, so tests can see what the model was given."""
    results = [m["content"] for m in body["messages"] if m.get("role") == "tool"]
    return f"The tool said: {results[-1]}" if results else echo(body)


# omni-moderation-latest's categories, in the order of its documented response.
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
              "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions",
              "sexual", "sexual/minors", "violence", "violence/graphic")


def moderation_result(flagged: bool) -> dict[str, Any]:
    """One entry of `results`, as the moderation endpoint answers it (violence when flagged)."""
    return {
        "flagged": flagged,
        "categories": {name: flagged and name == "violence" for name in CATEGORIES},
        "category_scores": {name: (0.91 if flagged and name == "violence" else 0.0001)
                            for name in CATEGORIES},
        "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
    }


def echo(body: dict[str, Any]) -> str:
    """Default answer: quotes the last user message so tests can see what the model got."""
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return f"You said: {content}"


@dataclass
class FakeOpenAI(MediaEndpoints):
    """Behaviour knobs and a record of every request."""

    reply: Callable[[dict[str, Any]], str] = echo
    latency: float = 0.0
    latency_of: Callable[[dict[str, Any]], float] | None = None  # per request, over `latency`
    chunk_size: int = 4
    chunk_delay: float = 0.0  # seconds between two SSE deltas (lets throttled card updates show each)
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses for the next requests
    fail_headers: dict[str, str] = field(default_factory=dict)  # sent with those (Retry-After…)
    midstream_error: str | None = None  # an SSE error event after the first delta
    transcript: str = "turn on the lights"
    refuse_images: bool = False  # images/generations and images/edits refuse (content policy)
    refuse_chat: bool = False  # chat completions refuse (content policy, as Azure's filter does)
    blind_models: set[str] = field(default_factory=set)  # chat models that reject image parts
    picture_b64: str = PNG_B64  # what images/generations and images/edits answer
    speech_seconds: float = 2.0  # how long the audio/speech answer plays
    speech_fail_next: list[int] = field(default_factory=list)
    speeches: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    tools: ToolScript | None = None  # answer with tool_calls when the script says so
    tool_text: str = ""  # text the model writes in a round that also asks for tools
    embedding_dims: int = EMBEDDING_DIMS
    embedding_fail_next: list[int] = field(default_factory=list)
    embedded: list[dict[str, Any]] = field(default_factory=list)
    flagged_phrases: set[str] = field(default_factory=set)  # the moderation endpoint flags these
    moderation_fail_next: list[int] = field(default_factory=list)
    moderations: list[dict[str, Any]] = field(default_factory=list)
    report_usage: bool = True  # False: like compatible backends that send no `usage` at all
    received: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    server: LoopbackServer | None = None
    request_seen: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/v1"

    @property
    def chat_calls(self) -> list[dict[str, Any]]:
        return [r for r in self.received if "messages" in r]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_post("/v1/images/generations", self._image)
        app.router.add_post("/v1/images/edits", self._edit)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/moderations", self._moderate)
        return app

    async def _embeddings(self, request: web.Request) -> web.Response:
        """`POST /v1/embeddings`: one vector per input, floats or base64 float32 as asked."""
        body = await request.json()
        self.embedded.append(body)
        if self.embedding_fail_next:
            status = self.embedding_fail_next.pop(0)
            return web.json_response({"error": ERRORS[status]}, status=status)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = int(body.get("dimensions") or self.embedding_dims)
        data = []
        for index, text in enumerate(inputs):
            vector: Any = embedding(text, dims)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(str(text).split()) for text in inputs)
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _moderate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.moderations.append(body)
        if self.moderation_fail_next:
            status = self.moderation_fail_next.pop(0)
            return web.json_response({"error": ERRORS[status]}, status=status)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        texts = [i if isinstance(i, str) else i.get("text", "") for i in inputs]
        results = [moderation_result(any(p.lower() in t.lower() for p in self.flagged_phrases))
                   for t in texts]
        return web.json_response({"id": "modr-0123456789", "model": body.get("model", ""),
                                  "results": results})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        self.headers.append(dict(request.headers))
        self.request_seen.set()
        latency = self.latency_of(body) if self.latency_of is not None else self.latency
        if latency:
            await asyncio.sleep(latency)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"error": ERRORS[status]}, status=status,
                                     headers=self.fail_headers)
        if refusal := self._refusal(body):
            return web.json_response({"error": refusal}, status=400)
        calls = self._calls(body)
        if calls:
            if body.get("stream"):
                return await self._sse_calls(request, body, calls)
            whole = tool_completion(body.get("model", "gpt-4o-mini"), calls, self.tool_text)
            if not self.report_usage:
                del whole["usage"]
            return web.json_response(whole)
        text = self.reply(body)
        if body.get("stream"):
            return await self._sse(request, body, text)
        whole = completion(body.get("model", "gpt-4o-mini"), text)
        if not self.report_usage:
            del whole["usage"]
        return web.json_response(whole)

    def _refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """OpenAI's answer to image parts sent to a text-only model, or a content filter's."""
        pictures = any(isinstance(m.get("content"), list) and any(
            p.get("type") == "image_url" for p in m["content"]) for m in body["messages"])
        if pictures and body.get("model") in self.blind_models:
            return {"message": "Invalid content type. image_url is only supported by certain "
                    "models.", "type": "invalid_request_error",
                    "param": "messages.[1].content.[1].type", "code": None}
        if self.refuse_chat:
            return {"message": "The response was filtered due to the prompt triggering content "
                    "management policy.", "type": None, "param": "prompt", "code": "content_filter"}
        return None

    def _calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The tool calls for this request (never with tool_choice "none", as the real API)."""
        if self.tools is None or not body.get("tools") or body.get("tool_choice") == "none":
            return []
        script = self.tools(body) or []
        number = len(self.chat_calls)
        return [{"id": f"call_{number}_{i}", "type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str)
                              else json.dumps(args)}}
                for i, (name, args) in enumerate(script)]

    async def _sse_calls(self, request: web.Request, body: dict[str, Any],
                         calls: list[dict[str, Any]]) -> web.StreamResponse:
        """Streamed tool calls: per call a delta with its index, id and name, then the
        arguments in pieces of `chunk_size` characters, then finish_reason "tool_calls"."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        model = body.get("model", "gpt-4o-mini")
        events = [chunk(model, {"role": "assistant", "content": None})]
        events += [chunk(model, {"content": self.tool_text[i:i + self.chunk_size]})
                   for i in range(0, len(self.tool_text), self.chunk_size)]
        for index, call in enumerate(calls):
            events.append(chunk(model, {"tool_calls": [{
                "index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            arguments = call["function"]["arguments"]
            events += [chunk(model, {"tool_calls": [{"index": index, "function": {
                "arguments": arguments[i:i + self.chunk_size]}}]})
                for i in range(0, len(arguments), self.chunk_size)]
        events.append(chunk(model, {}, "tool_calls"))
        if self.report_usage and (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk(model, {}), "choices": [], "usage": TOOL_USAGE})
        for event in events:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    async def _sse(self, request: web.Request, body: dict[str, Any], text: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        model = body.get("model", "gpt-4o-mini")
        pieces = [text[i:i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]
        events: list[dict[str, Any]] = [chunk(model, {"role": "assistant", "content": ""})]
        events += [chunk(model, {"content": piece}) for piece in pieces]
        for index, event in enumerate(events):
            if self.chunk_delay and index > 1:
                await asyncio.sleep(self.chunk_delay)
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            if self.midstream_error and index == 1:
                error = {"error": {"message": self.midstream_error, "type": "server_error",
                                   "code": None}}
                await response.write(f"data: {json.dumps(error)}\n\n".encode())
                return response
        await response.write(f"data: {json.dumps(chunk(model, {}, 'stop'))}\n\n".encode())
        if self.report_usage and (body.get("stream_options") or {}).get("include_usage"):
            usage = {**chunk(model, {}), "choices": [],
                     "usage": {"prompt_tokens": 5, "completion_tokens": len(pieces),
                               "total_tokens": 5 + len(pieces)}}
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response


def completion(model: str, text: str) -> dict[str, Any]:
    """A whole chat.completion object."""
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
        "model": model, "system_fingerprint": "fp_x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


TOOL_USAGE = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
"""What a round that asks for tool calls reports (unlike a text answer's 5 and 3)."""


def tool_completion(model: str, calls: list[dict[str, Any]], text: str = "") -> dict[str, Any]:
    """A whole chat.completion that asks for tool calls (with some text, or none)."""
    body = completion(model, "")
    body["usage"] = dict(TOOL_USAGE)
    body["choices"][0]["message"] = {"role": "assistant", "content": text or None,
                                     "tool_calls": calls, "refusal": None}
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One chat.completion.chunk."""
    return {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
        "model": model, "system_fingerprint": "fp_x",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }

