"""The service's error hierarchy.

    BotError
    ├── ConfigError          bad or missing configuration (fails start-up with one line)
    ├── BadRequest           malformed input from a client: HTTP 400
    │   └── PayloadTooLarge  body over the configured limit: HTTP 413
    ├── Unauthorized         missing or wrong credentials: HTTP 401
    ├── Forbidden            valid request, refused: HTTP 403
    ├── NotFound             no such thing (a job, a dead letter): HTTP 404
    ├── UpstreamError        the LLM or a platform API failed; its `ErrorKind` names the user text
    └── StorageUnavailable   Redis cannot be reached

They are turned into HTTP answers in `bot.app` (one middleware) and into user text in the
pipeline's error step; nowhere else catches broadly.
"""

from __future__ import annotations

from enum import StrEnum


class BotError(Exception):
    """Base of every error the service raises on purpose."""

    status = 500


class ConfigError(BotError):
    """Configuration problem; the message names the key and the problem."""


class BadRequest(BotError):
    """The client sent something we cannot accept."""

    status = 400


class PayloadTooLarge(BadRequest):
    """The request body is larger than allowed."""

    status = 413


class Unauthorized(BotError):
    """Authentication is missing or wrong."""

    status = 401


class Forbidden(BotError):
    """The caller is known but not allowed."""

    status = 403


class NotFound(BotError):
    """What the request names does not exist."""

    status = 404


class ErrorKind(StrEnum):
    """Why a message could not be answered: names its user text (`text_key`, one default each in
    bot/texts.py, checked by a test) and its HTTP status on /api/chat. Adding one is one line here
    and one text; mypy finds every place that must name it."""

    UPSTREAM = "upstream"  # a remote service failed, no more precise kind
    LLM_TIMEOUT = "llm_timeout"
    LLM_UNREACHABLE = "llm_unreachable"
    LLM_AUTH = "llm_auth"
    LLM_QUOTA = "llm_quota"
    LLM_RATE_LIMIT = "llm_rate_limit"
    LLM_CONTEXT_LENGTH = "llm_context_length"
    LLM_CONTENT_FILTER = "llm_content_filter"  # a content-policy refusal: an answer (200)
    LLM_BAD_REQUEST = "llm_bad_request"
    LLM_NO_VISION = "llm_no_vision"
    LLM_SERVER = "llm_server"
    LLM_EMPTY = "llm_empty"
    MODERATION = "moderation"  # the moderation provider failed (with on_error: closed)
    AUDIO_FORMAT = "audio_format"
    STORAGE = "storage"  # StorageUnavailable
    INTERNAL = "internal"  # a bug

    @property
    def text_key(self) -> str:
        """The user text that explains it."""
        named = {ErrorKind.STORAGE: "storage_unavailable", ErrorKind.MODERATION: "moderation_unavailable"}
        return named.get(self, f"error_{self.value}")

    @property
    def refusal(self) -> bool:
        """The endpoint declined (content policy): the user gets a friendly answer, not an error."""
        return self is ErrorKind.LLM_CONTENT_FILTER

    @property
    def status(self) -> int:
        """The HTTP status of an /api/chat answer that ends this way."""
        if self.refusal:
            return 200
        return {ErrorKind.STORAGE: 503, ErrorKind.INTERNAL: 500}.get(self, 502)


class UpstreamError(BotError):
    """A remote service failed. `kind` picks the user-facing text; the message is for the log."""

    status = 502

    def __init__(self, detail: str, kind: ErrorKind = ErrorKind.UPSTREAM) -> None:
        super().__init__(detail)
        self.kind = kind


class StorageUnavailable(BotError):
    """The storage backend cannot be reached."""

    status = 503
