"""Open API requests on the service's shared aiohttp session, and the one answer-to-error mapping.

lark-oapi still builds the typed requests and parses its response models, but its async transport
(`Transport.aexecute`) opens a new httpx client, and with it an SSL context, for every call: 80% of
the service's CPU on Feishu messages (docs/benchmarks.md). The same requests go out here instead,
on `services.http`, whose connections are reused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
from lark_oapi.core.json import JSON

from adapters.feishu.errors import FeishuError

R = TypeVar("R")

_PATH_PARAM = re.compile(r":(\w+)")
JSON_TYPE = "application/json; charset=utf-8"


def answer(operation: str, status: int, body: bytes) -> dict[str, Any]:
    """The JSON object of a successful answer (`code` 0), else FeishuError with Feishu's code.

    Without a usable code the error carries the HTTP status (so a bare 429 still backs off), or -1.
    """
    try:
        data = json.loads(body)
    except ValueError:  # also UnicodeDecodeError
        data = None
    fallback = status if status >= 400 else -1
    if not isinstance(data, dict):
        raise FeishuError(operation, fallback, f"HTTP {status}, answer is not a JSON object")
    code = data.get("code")
    if code == 0:
        return data
    if not isinstance(code, int) or isinstance(code, bool):
        code = fallback
    raise FeishuError(operation, code, str(data.get("msg") or ""))


def path_of(request: Any) -> str:
    """The request's URI with its `:name` path parameters filled in, each fully percent-encoded."""
    paths = request.paths or {}

    def fill(match: re.Match[str]) -> str:
        value = paths.get(match[1])
        return match[0] if value is None else quote(str(value), safe="")

    return _PATH_PARAM.sub(fill, str(request.uri))


class OpenAPI:
    """Sends a lark-oapi request object with a tenant token; answers its typed response model."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession) -> None:
        self._base_url = base_url
        self._http = http

    async def send(self, operation: str, request: Any, response_type: Callable[[dict[str, Any]], R],
                   token: str) -> R:
        """Execute `request` (method, path, queries, JSON body); FeishuError unless `code` is 0."""
        headers = {**(request.headers or {}), "Authorization": f"Bearer {token}"}
        data = None
        if request.body is not None:
            data = JSON.marshal(request.body).encode("utf-8")
            headers["Content-Type"] = JSON_TYPE
        async with self._http.request(request.http_method.name, self._base_url + path_of(request),
                                      params=request.queries or None, data=data,
                                      headers=headers) as response:
            body = await response.read()
        return response_type(answer(operation, response.status, body))
