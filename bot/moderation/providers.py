"""Remote judges of a whole text: the OpenAI moderation endpoint and a generic HTTP hook.

The hook is for cloud services (Tencent TMS, Aliyun Green…) behind a small shim: it receives
`{"text", "direction"}` and answers `{"flagged": bool, "terms": [...]}`; the terms, when given,
let `mask` mode hide exactly them instead of refusing the whole answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from bot.config import Secret
from bot.errors import ErrorKind, UpstreamError
from bot.llm import LLMClient


@dataclass(frozen=True, slots=True)
class Judgement:
    """One provider's answer: flagged or not, and the terms it names (if it names any)."""

    flagged: bool
    terms: tuple[str, ...] = ()


class Provider(Protocol):
    """A remote moderation service."""

    name: str

    async def judge(self, text: str, direction: str) -> Judgement:
        """Judge `text` (`direction` is "input" or "output"); UpstreamError when it cannot."""
        ...


class OpenAIModeration:
    """`POST /moderations` on OPENAI_BASE_URL through the service's one OpenAI client."""

    name = "openai"

    def __init__(self, llm: LLMClient, model: str, timeout: float) -> None:
        self._llm = llm
        self._model = model
        self._timeout = timeout

    async def judge(self, text: str, direction: str) -> Judgement:
        """Flagged when any category is; categories cannot be masked, so no terms."""
        return Judgement(bool(await self._llm.moderate(text, self._model, self._timeout)))


class HTTPHook:
    """POSTs the text to the operator's URL on the service's shared aiohttp session."""

    name = "http"

    def __init__(self, http: aiohttp.ClientSession, url: str, token: Secret, timeout: float) -> None:
        self._http = http
        self._url = url
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token.reveal()}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def judge(self, text: str, direction: str) -> Judgement:
        """The hook's verdict; a non-2xx answer or a malformed body is a failure."""
        body = json.dumps({"text": text, "direction": direction}, ensure_ascii=False)
        try:
            async with self._http.post(self._url, data=body.encode(), headers=self._headers,
                                       timeout=self._timeout) as response:
                if response.status >= 300:
                    raise UpstreamError(f"moderation hook answered HTTP {response.status}",
                                        kind=ErrorKind.MODERATION)
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise UpstreamError(f"moderation hook failed: {type(exc).__name__}",
                                kind=ErrorKind.MODERATION) from exc
        return parse_hook_answer(answer)


def parse_hook_answer(answer: Any) -> Judgement:
    """`{"flagged": bool, "terms": [str, ...]}` (terms optional), or UpstreamError."""
    if not isinstance(answer, dict) or not isinstance(answer.get("flagged"), bool):
        raise UpstreamError("moderation hook: the answer has no boolean 'flagged'", kind=ErrorKind.MODERATION)
    terms = answer.get("terms") or []
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise UpstreamError("moderation hook: 'terms' must be a list of strings", kind=ErrorKind.MODERATION)
    return Judgement(answer["flagged"], tuple(t for t in terms if t.strip()))
