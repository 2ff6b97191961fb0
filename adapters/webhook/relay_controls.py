"""The bot's controls on the relay: per-key rate and daily quota, the model allow-list, an input
cap. Refusals are OpenAI-shaped errors, so the official clients raise their usual exceptions."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from adapters.webhook.settings import RelaySettings
from bot.pipeline.limits import over_limit
from bot.settings import LLMSettings
from bot.storage import Storage


def openai_error(status: int, message: str, code: str, kind: str = "invalid_request_error",
                 param: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    """An error answer in the OpenAI API's shape (the SDKs map `code` and the status)."""
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status=status, headers=headers)


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message: a string, or the text parts of a content list."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content
                         if isinstance(p, dict) and p.get("type") == "text")
    return ""


class RelayControls:
    """Applies the controls to one validated request body, in the order of their cost."""

    def __init__(self, settings: RelaySettings, llm: LLMSettings, storage: Storage,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._allowed = (llm.model, *llm.models)
        self._storage = storage
        self._clock = clock

    def check_body(self, body: dict[str, Any]) -> web.Response | None:
        """The model allow-list and the input cap: the refusal to answer, or None."""
        model = body["model"]
        if not self._settings.any_model and model not in self._allowed:
            return openai_error(404, f"The model `{model}` does not exist or you do not have access to "
                                f"it. This relay offers: {', '.join(self._allowed)}.",
                                "model_not_found", param="model")
        cap = self._settings.max_input_chars
        size = sum(len(message_text(m)) for m in body["messages"])
        if cap and size > cap:
            return openai_error(400, f"The messages hold {size} characters of text; this relay accepts "
                                f"at most {cap}.", "input_too_long", param="messages")
        return None

    async def count(self, token: str) -> web.Response | None:
        """Count the request against its key's minute and day: the refusal when over, or None."""
        who = "relay:" + hashlib.sha256(token.encode()).hexdigest()[:16]
        now = self._clock()
        hit = await over_limit(self._storage, who, self._settings.per_key_per_minute,
                               self._settings.per_key_per_day, now)
        if hit == "rate_limited":  # the SDKs wait Retry-After, then try again
            return openai_error(429, "Rate limit reached for this API key: "
                                f"{self._settings.per_key_per_minute} requests per minute.",
                                "rate_limit_exceeded", kind="requests",
                                headers={"Retry-After": str(60 - int(now) % 60)})
        if hit == "quota_exceeded":  # retrying cannot help before the next UTC day
            return openai_error(429, "This API key has used its daily quota of "
                                f"{self._settings.per_key_per_day} requests.",
                                "insufficient_quota", kind="insufficient_quota",
                                headers={"x-should-retry": "false"})
        return None
