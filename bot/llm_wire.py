"""The OpenAI chat wire as `bot.llm` speaks it: the request body, the answer read leniently, and
the one mapping of SDK errors to our error kinds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import openai

from bot.errors import ErrorKind, UpstreamError
from bot.settings import LLMSettings

Message = dict[str, Any]

# The SDK's own chat.completions.create sends with bearer auth through this request option.
AUTH: openai.RequestOptions = {"security": {"bearer_auth": True}}


def chat_body(settings: LLMSettings, messages: Sequence[Message], model: str | None,
              temperature: float | None, stream: bool) -> dict[str, Any]:
    """The request body, sent as is: `chat.completions.create` would first walk every message
    through the SDK's TypedDict transform, which cost ~6 ms of CPU per call with a 40-turn
    history (bench/: 67% of the service's CPU); our dicts are already in the wire shape."""
    body: dict[str, Any] = {
        "messages": list(messages), "model": model or settings.model, "stream": stream,
        "temperature": settings.temperature if temperature is None else temperature,
    }
    if settings.max_tokens:
        body["max_tokens"] = settings.max_tokens
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def answer_of(result: Any) -> tuple[str, Any]:
    """The first choice's text and the usage of a chat.completion body (lenient: some compatible
    backends omit fields or send nulls)."""
    if not isinstance(result, dict):
        raise UpstreamError(f"unexpected completion body: {type(result).__name__}", kind=ErrorKind.LLM_SERVER)
    choices = result.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    return (content if isinstance(content, str) else ""), result.get("usage")


# How endpoints say a model takes no pictures: OpenAI ("Invalid content type. image_url is only
# supported by certain models."), vLLM ("... is not a multimodal model"), DeepSeek ("unknown
# variant `image_url`"), others ("does not support image input", "vision is not supported").
_NO_VISION = re.compile(r"image_url is only supported|not a multimodal|unknown variant `image_url`|"
                        r"does not support (image|vision)|"
                        r"(image|vision) (input )?(is |are )?not supported", re.IGNORECASE)


def deltas_of(chunk: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A stream chunk's usage (None on most) and the deltas of its choices, leniently: the usage
    chunk has `choices: []` (or null), and compatible backends leave out fields."""
    if not isinstance(chunk, dict):
        return None, []
    deltas = [c["delta"] for c in chunk.get("choices") or () if isinstance(c, dict)
              and isinstance(c.get("delta"), dict)]
    return chunk.get("usage"), deltas


def map_error(exc: Exception) -> UpstreamError:
    """The one place an OpenAI SDK error becomes our error kind (and a log-safe detail)."""
    code = getattr(exc, "code", None)
    kind: ErrorKind
    if isinstance(exc, openai.APITimeoutError):
        # A connect timeout means the host cannot be reached (the aiohttp transport also
        # reports a refused connection this way); a read timeout means the model is slow.
        connect = type(exc.__cause__).__name__ == "ConnectTimeout"
        kind = ErrorKind.LLM_UNREACHABLE if connect else ErrorKind.LLM_TIMEOUT
    elif isinstance(exc, openai.APIConnectionError):
        kind = ErrorKind.LLM_UNREACHABLE
    elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        kind = ErrorKind.LLM_AUTH
    elif isinstance(exc, openai.RateLimitError):
        kind = ErrorKind.LLM_QUOTA if code == "insufficient_quota" else ErrorKind.LLM_RATE_LIMIT
    elif isinstance(exc, openai.BadRequestError):
        kind = {"context_length_exceeded": ErrorKind.LLM_CONTEXT_LENGTH,
                "content_policy_violation": ErrorKind.LLM_CONTENT_FILTER,
                "content_filter": ErrorKind.LLM_CONTENT_FILTER,  # Azure OpenAI's prompt filter
                "moderation_blocked": ErrorKind.LLM_CONTENT_FILTER}.get(str(code), ErrorKind.LLM_BAD_REQUEST)
        if kind == ErrorKind.LLM_BAD_REQUEST and _NO_VISION.search(str(getattr(exc, "message", ""))):
            kind = ErrorKind.LLM_NO_VISION
    elif isinstance(exc, openai.NotFoundError):
        kind = ErrorKind.LLM_BAD_REQUEST  # usually a wrong model name
    elif isinstance(exc, openai.APIStatusError):
        kind = ErrorKind.LLM_SERVER if exc.status_code >= 500 else ErrorKind.LLM_BAD_REQUEST
    else:
        kind = ErrorKind.LLM_SERVER  # mid-stream APIError and the like
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or type(exc).__name__
    detail = f"{type(exc).__name__} status={status} code={code}: {message}"
    return UpstreamError(detail[:500], kind=kind)
