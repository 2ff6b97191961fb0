"""The OpenAI chat wire as `bot.llm` speaks it: the request body, the answer read leniently, and
the one mapping of SDK errors to our error kinds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from bot.errors import UpstreamError
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
        raise UpstreamError(f"unexpected completion body: {type(result).__name__}", kind="llm_server")
    choices = result.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    return (content if isinstance(content, str) else ""), result.get("usage")


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
