"""The LLM port and its OpenAI implementation (any OpenAI-compatible endpoint via `base_url`)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from bot.errors import UpstreamError
from bot.messages import Image
from bot.metrics import Metrics
from bot.settings import LLMSettings
from bot.tools.wire import ModelTurn, StreamedCalls, calls_of

if TYPE_CHECKING:
    from bot.embeddings import Embeddings

log = logging.getLogger(__name__)

Message = dict[str, Any]


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


# The SDK's own chat.completions.create sends with bearer auth through this request option.
_AUTH: openai.RequestOptions = {"security": {"bearer_auth": True}}


def _answer_of(result: Any) -> tuple[str, Any]:
    """The first choice's text and the usage of a chat.completion body (lenient: some compatible
    backends omit fields or send nulls)."""
    if not isinstance(result, dict):
        raise UpstreamError(f"unexpected completion body: {type(result).__name__}", kind="llm_server")
    choices = result.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    return (content if isinstance(content, str) else ""), result.get("usage")


def map_error(exc: Exception) -> UpstreamError:
    """The one place an OpenAI SDK error becomes our error kind (and a log-safe detail)."""
    code = getattr(exc, "code", None)
    if isinstance(exc, openai.APITimeoutError):
        # A connect timeout means the host cannot be reached (the aiohttp transport also
        # reports a refused connection this way); a read timeout means the model is slow.
        connect = type(exc.__cause__).__name__ == "ConnectTimeout"
        kind = "llm_unreachable" if connect else "llm_timeout"
    elif isinstance(exc, openai.APIConnectionError):
        kind = "llm_unreachable"
    elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        kind = "llm_auth"
    elif isinstance(exc, openai.RateLimitError):
        kind = "llm_quota" if code == "insufficient_quota" else "llm_rate_limit"
    elif isinstance(exc, openai.BadRequestError):
        kind = {"context_length_exceeded": "llm_context_length",
                "content_policy_violation": "llm_content_filter",
                "moderation_blocked": "llm_content_filter"}.get(str(code), "llm_bad_request")
    elif isinstance(exc, openai.NotFoundError):
        kind = "llm_bad_request"  # usually a wrong model name
    elif isinstance(exc, openai.APIStatusError):
        kind = "llm_server" if exc.status_code >= 500 else "llm_bad_request"
    else:
        kind = "llm_server"  # mid-stream APIError and the like
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or type(exc).__name__
    detail = f"{type(exc).__name__} status={status} code={code}: {message}"
    return UpstreamError(detail[:500], kind=kind)


class OpenAILLM:
    """`openai.AsyncOpenAI` on the aiohttp transport, one per process, with bounded retries."""

    def __init__(self, settings: LLMSettings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._client = openai.AsyncOpenAI(
            api_key=settings.api_key.reveal() or "unset",
            base_url=settings.base_url,
            # The SDK retries 408/409/429/5xx and connection errors with jittered backoff;
            # we bound it explicitly instead of relying on its defaults (2 retries, 600 s).
            max_retries=settings.max_retries,
            timeout=openai.Timeout(settings.timeout, connect=settings.connect_timeout),
            http_client=openai.DefaultAioHttpClient(),
        )

    def _body(self, messages: Sequence[Message], model: str | None, temperature: float | None,
              stream: bool) -> dict[str, Any]:
        """The request body, sent as is: `chat.completions.create` would first walk every message
        through the SDK's TypedDict transform, which cost ~6 ms of CPU per call with a 40-turn
        history (bench/: 67% of the service's CPU); our dicts are already in the wire shape."""
        body: dict[str, Any] = {
            "messages": list(messages), "model": model or self._settings.model, "stream": stream,
            "temperature": self._settings.temperature if temperature is None else temperature,
        }
        if self._settings.max_tokens:
            body["max_tokens"] = self._settings.max_tokens
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

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

    async def complete(
        self, messages: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One non-streaming chat completion."""
        started = time.monotonic()
        async with self._slots:
            try:
                # The plain JSON (cast_to=object): building the typed ChatCompletion model cost
                # ~0.2 ms of CPU per call and we read two fields of it.
                result = await self._client.post(
                    "/chat/completions", cast_to=object, options=_AUTH,
                    body=self._body(messages, model, temperature, stream=False),
                )
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        self._metrics.llm_latency.labels("whole").observe(time.monotonic() - started)
        text, usage = _answer_of(result)
        prompt, completion = self._count(usage)
        return Completion(text, prompt, completion)

    async def stream(
        self, messages: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[str]:
        """Content deltas; reasoning deltas and the usage-only chunk are not content."""
        started = time.monotonic()
        async with self._slots:
            try:
                chunks = await self._client.post(
                    "/chat/completions", cast_to=ChatCompletion, options=_AUTH,
                    body=self._body(messages, model, temperature, stream=True),
                    stream=True, stream_cls=openai.AsyncStream[ChatCompletionChunk],
                )
                async for chunk in chunks:
                    self._count(chunk.usage)
                    for choice in chunk.choices or ():  # [] or None on the usage chunk
                        if choice.delta and choice.delta.content:
                            yield choice.delta.content
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        self._metrics.llm_latency.labels("stream").observe(time.monotonic() - started)

    async def transcribe(self, audio: bytes, filename: str, mime: str) -> str:
        """One transcription (multipart upload)."""
        async with self._slots:
            try:
                result = await self._client.audio.transcriptions.create(
                    file=(filename, audio, mime), model=self._settings.transcribe_model)
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        return result.text.strip()

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
        first = result.data[0] if result.data else None
        if first is not None and first.b64_json:
            return Image(data=base64.b64decode(first.b64_json), mime="image/png")
        if first is not None and first.url:
            return Image(url=first.url)
        raise UpstreamError("the image endpoint returned no picture", kind="llm_empty")

    # Function calling and embeddings: separate calls, so the plain answer paths stay as they are.

    def _tools_body(self, messages: Sequence[Message], tools: Sequence[Message], model: str | None,
                    temperature: float | None, tool_choice: str | None,
                    stream: bool) -> dict[str, Any]:
        body = {**self._body(messages, model, temperature, stream), "tools": list(tools)}
        if tool_choice:
            body["tool_choice"] = tool_choice
        return body

    async def complete_tools(
        self, messages: Sequence[Message], tools: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None, tool_choice: str | None = None,
    ) -> ModelTurn:
        """One non-streaming completion with `tools` offered."""
        started = time.monotonic()
        async with self._slots:
            try:
                result = await self._client.post(
                    "/chat/completions", cast_to=object, options=_AUTH,
                    body=self._tools_body(messages, tools, model, temperature, tool_choice, False),
                )
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        self._metrics.llm_latency.labels("whole").observe(time.monotonic() - started)
        text, usage = _answer_of(result)
        choices = (result.get("choices") or [{}]) if isinstance(result, dict) else [{}]
        calls = calls_of((choices[0] or {}).get("message"))
        return ModelTurn(text, calls, *self._count(usage))

    async def stream_tools(
        self, messages: Sequence[Message], tools: Sequence[Message], *, model: str | None = None,
        temperature: float | None = None, tool_choice: str | None = None,
    ) -> AsyncIterator[str | ModelTurn]:
        """Content deltas, then the turn: tool-call pieces are joined by their `index`."""
        started = time.monotonic()
        parts: list[str] = []
        calls = StreamedCalls()
        prompt = completion = 0
        async with self._slots:
            try:
                chunks = await self._client.post(
                    "/chat/completions", cast_to=ChatCompletion, options=_AUTH,
                    body=self._tools_body(messages, tools, model, temperature, tool_choice, True),
                    stream=True, stream_cls=openai.AsyncStream[ChatCompletionChunk],
                )
                async for chunk in chunks:
                    if chunk.usage is not None:
                        prompt, completion = self._count(chunk.usage)
                    for choice in chunk.choices or ():
                        if choice.delta and choice.delta.tool_calls:
                            calls.feed(choice.delta.tool_calls)
                        if choice.delta and choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        self._metrics.llm_latency.labels("stream").observe(time.monotonic() - started)
        yield ModelTurn("".join(parts), calls.calls(), prompt, completion)

    async def embed(self, texts: Sequence[str], model: str, dimensions: int = 0) -> Embeddings:
        """`POST /embeddings` with base64 vectors (a quarter of the JSON floats' bytes)."""
        body: dict[str, Any] = {"model": model, "input": list(texts), "encoding_format": "base64"}
        if dimensions:
            body["dimensions"] = dimensions
        async with self._slots:
            try:
                result = await self._client.post("/embeddings", cast_to=object, options=_AUTH,
                                                 body=body)
            except openai.OpenAIError as exc:
                raise map_error(exc) from exc
        from bot.embeddings import embeddings_of  # numpy only for services that embed

        embeddings = embeddings_of(result, len(texts))
        self._metrics.tokens.labels("embedding").inc(embeddings.prompt_tokens)
        return embeddings

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

