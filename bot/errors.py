"""The service's error hierarchy.

    BotError
    ├── ConfigError          bad or missing configuration (fails start-up with one line)
    ├── BadRequest           malformed input from a client: HTTP 400
    │   └── PayloadTooLarge  body over the configured limit: HTTP 413
    ├── Unauthorized         missing or wrong credentials: HTTP 401
    ├── Forbidden            valid request, refused: HTTP 403
    ├── NotFound             no such thing (a job, a dead letter): HTTP 404
    ├── UpstreamError        the LLM or a platform API failed; `kind` names the user text
    └── StorageUnavailable   Redis cannot be reached

They are turned into HTTP answers in `bot.app` (one middleware) and into user text in the
pipeline's error step; nowhere else catches broadly.
"""

from __future__ import annotations


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


class UpstreamError(BotError):
    """A remote service failed. `kind` picks the user-facing text; the message is for the log."""

    status = 502

    def __init__(self, detail: str, kind: str = "upstream") -> None:
        super().__init__(detail)
        self.kind = kind


class StorageUnavailable(BotError):
    """The storage backend cannot be reached."""

    status = 503
