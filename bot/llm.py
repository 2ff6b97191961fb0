"""The LLM port and its OpenAI implementation (any OpenAI-compatible endpoint via `base_url`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import openai

from bot.errors import ErrorKind, UpstreamError
from bot.llm_direct import DirectChat, Session, sdk_client
from bot.llm_media import MediaCalls
from bot.llm_wire import AUTH, Message, answer_of, chat_body, deltas_of, map_error
from bot.messages import Image
from bot.metrics import Metrics
from bot.settings import LLMSettings
from bot.tools.wire import ModelTurn, StreamedCalls, calls_of, tools_body
from bot.usage import meter

if TYPE_CHECKING:
    from bot.embeddings import Embeddings

__all__ = ["Completion", "LLMClient", "Message", "OpenAILLM", "map_error"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole answer and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLMClient(Protocol):
    """What the pipeline needs from a language model."""

    async def complete(
        self, messages: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """The whole answer."""
        ...

    def stream(
        self, messages: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[str]:
        """The answer as text deltas."""
        ...

    async def transcribe(self, audio: bytes, filename: str, mime: str) -> str:
        """Speech to text."""
        ...

    async def generate_image(self, prompt: str) -> Image:
        """Text to picture."""
        ...

    async def edit_image(self, picture: Image, prompt: str) -> Image:
        """A changed picture: `picture` edited as `prompt` says."""
        ...

    async def speak(self, text: str) -> bytes:
        """Text to speech (mp3)."""
        ...

    async def moderate(self, text: str, model: str, seconds: float) -> tuple[str, ...]:
        """The categories the moderation endpoint flags `text` for (empty: not flagged), within
        `seconds`."""
        ...

    async def complete_tools(
        self, messages: Sequence[Message], tools: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None, tool_choice: str | None = None,
    ) -> ModelTurn:
        """One whole answer that may ask for tool calls instead of (or besides) text."""
        ...

    def stream_tools(
        self, messages: Sequence[Message], tools: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None, tool_choice: str | None = None,
    ) -> AsyncIterator[str | ModelTurn]:
        """Text deltas as they come, then one `ModelTurn` with the whole text, calls and usage."""
        ...

    async def embed(self, texts: Sequence[str], model: str, dimensions: int = 0) -> Embeddings:
        """Embedding vectors for `texts`, one request."""
        ...

    async def close(self) -> None:
        """Release the HTTP client."""
        ...


class OpenAILLM(MediaCalls):
    """`openai.AsyncOpenAI` on the aiohttp transport, one per process, with bounded retries."""

    def __init__(self, settings: LLMSettings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        http = self._http = Session()
        self._client = sdk_client(settings, http)
        # The same connection pool without retries: a moderation verdict is wanted within its
        # timeout, and the operator's failure policy (moderation.on_error) decides after that.
        self._moderations = self._client.with_options(max_retries=0).moderations
        # Chat completions go out directly first (bot/llm_direct.py): the SDK's request building
        # was ~0.45 ms of CPU per call; the SDK makes the retries left after a failed attempt.
        self._chat = DirectChat(settings, self._client, http)

    def _body(self, messages: Sequence[Message], model: str | None, temperature: float | None,
              stream: bool) -> dict[str, Any]:
        return chat_body(self._settings, messages, model, temperature, stream)

    def _count(self, usage: Any) -> tuple[int, int]:
        if usage is None:
            return 0, 0
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        else:
            prompt, completion = usage.prompt_tokens or 0, usage.completion_tokens or 0
        self._metrics.tokens.labels("prompt").inc(prompt)
        self._metrics.tokens.labels("completion").inc(completion)
        return prompt, completion

    @staticmethod
    def _meter(body: dict[str, Any], usage: tuple[int, int] | None, answer: str) -> None:
        """The message's usage meter gets the endpoint's counts, or an estimate without them."""
        if usage is not None:
            meter.record_tokens(body["model"], *usage)
        else:
            meter.record_tokens(body["model"], meter.estimate_tokens(body["messages"]),
                                meter.estimate_tokens(answer), estimated=True)

    async def _whole(self, body: dict[str, Any]) -> Any:
        """A non-streaming completion as plain JSON: building the typed ChatCompletion model cost
        ~0.2 ms of CPU per call and we read a few fields of it."""
        started = time.monotonic()
        async with self._slots:
            try:
                result = await self._chat.whole(body)
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        self._metrics.llm_latency.labels("whole").observe(time.monotonic() - started)
        return result

    async def complete(
        self, messages: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One non-streaming chat completion."""
        body = self._body(messages, model, temperature, stream=False)
        text, usage = answer_of(await self._whole(body))
        prompt, completion = self._count(usage)
        self._meter(body, None if usage is None else (prompt, completion), text)
        return Completion(text, prompt, completion)

    async def complete_tools(
        self, messages: Sequence[Message], tools: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None, tool_choice: str | None = None,
    ) -> ModelTurn:
        """One non-streaming completion with `tools` offered: its text, calls and usage."""
        body = tools_body(self._body(messages, model, temperature, False), tools, tool_choice)
        result = await self._whole(body)
        text, usage = answer_of(result)
        calls = calls_of(result)
        prompt, completion = self._count(usage)
        produced = text + "".join(call.name + call.arguments for call in calls)
        self._meter(body, None if usage is None else (prompt, completion), produced)
        return ModelTurn(text, calls, prompt, completion)

    def stream(
        self, messages: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[str]:
        """Content deltas; reasoning deltas and the usage-only chunk are not content."""
        deltas = self._stream(self._body(messages, model, temperature, stream=True), None)
        return cast("AsyncIterator[str]", deltas)  # without a call collector: text only

    def stream_tools(
        self, messages: Sequence[Message], tools: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None, tool_choice: str | None = None,
    ) -> AsyncIterator[str | ModelTurn]:
        """Content deltas, then the turn: tool-call pieces are joined by their `index`."""
        body = tools_body(self._body(messages, model, temperature, True), tools, tool_choice)
        return self._stream(body, StreamedCalls())

    async def _stream(self, body: dict[str, Any],
                      calls: StreamedCalls | None) -> AsyncIterator[str | ModelTurn]:
        """A streamed completion's content deltas; with `calls`, a `ModelTurn` ends it.

        The SDK's SSE decoder reads the lines, errors sent in the stream raise the SDK's APIError
        and a failed start is retried by the SDK (bot/llm_direct.py), but each chunk stays the
        JSON object: building the typed ChatCompletionChunk was 21-24% of the CPU of a streamed
        answer (docs/benchmarks.md)."""
        started = time.monotonic()
        reported: tuple[int, int] | None = None
        streamed: list[str] = []  # for the turn, and for estimating usage when none is sent
        # aclosing: a consumer that stops early (moderation) releases the connection at once.
        async with self._slots, contextlib.aclosing(self._chat.stream(body)) as chunks:
            try:
                async for chunk in chunks:
                    usage, deltas = deltas_of(chunk)
                    if usage is not None:
                        reported = self._count(usage)
                    for delta in deltas:
                        if calls is not None and delta.get("tool_calls"):
                            calls.feed(delta["tool_calls"])
                        content = delta.get("content")
                        if content and isinstance(content, str):
                            streamed.append(content)
                            yield content
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
            finally:  # what was produced was paid for, even when the stream broke off
                produced = "".join(streamed) + (calls.text() if calls is not None else "")
                if produced or reported is not None:
                    self._meter(body, reported, produced)
        self._metrics.llm_latency.labels("stream").observe(time.monotonic() - started)
        if calls is not None:
            yield ModelTurn("".join(streamed), calls.calls(), *(reported or (0, 0)))

    async def moderate(self, text: str, model: str, seconds: float) -> tuple[str, ...]:
        """One moderation call (no retries: the caller's failure policy decides instead)."""
        try:
            result = await self._moderations.create(
                input=text, model=model, timeout=seconds)
        except openai.OpenAIError as exc:
            raise map_error(exc) from exc
        first = result.results[0] if result.results else None
        if first is None:
            raise UpstreamError("the moderation endpoint returned no result", kind=ErrorKind.LLM_SERVER)
        if not first.flagged:
            return ()
        named = first.categories.model_dump(by_alias=True)
        return tuple(sorted(name for name, on in named.items() if on)) or ("flagged",)

    async def embed(self, texts: Sequence[str], model: str, dimensions: int = 0) -> Embeddings:
        """`POST /embeddings` with base64 vectors (a quarter of the JSON floats' bytes)."""
        body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "base64"}
        if dimensions:
            body["dimensions"] = dimensions
        async with self._slots:
            try:
                result = await self._client.post("/embeddings", cast_to=object, options=AUTH,
                                                 body=body)
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        from bot.embeddings import embeddings_of  # numpy only for services that embed

        embeddings = embeddings_of(result, len(texts))
        self._metrics.tokens.labels("embedding").inc(embeddings.prompt_tokens)
        return embeddings

    async def close(self) -> None:
        """Close the HTTP client and its session."""
        await self._client.close()
        await self._http.close()
