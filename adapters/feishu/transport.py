"""Open API requests on the service's shared aiohttp session, and the one answer-to-error mapping.

lark-oapi's async transport (`Transport.aexecute`) opens a new httpx client, and with it an SSL
context, for every call: 80% of the service's CPU on Feishu messages (docs/benchmarks.md). Its
typed builders only fill in a method, a URI and a JSON body, and importing any of them loads the
whole SDK (`lark_oapi/__init__.py`: ~140 MB of RSS). So the few requests we send are described
here (`Request`, checked against the builders' wire shape in tests/test_feishu_transport.py) and
go out on `services.http`, whose connections are reused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from adapters.feishu.errors import FeishuError

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


@dataclass(frozen=True)
class Request:
    """One Open API call: method, URI with `:name` path parameters, query and JSON body."""

    method: str
    uri: str
    paths: Mapping[str, str] = field(default_factory=dict)
    queries: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None


def path_of(request: Request) -> str:
    """The request's URI with its `:name` path parameters filled in, each fully percent-encoded."""
    paths = request.paths

    def fill(match: re.Match[str]) -> str:
        value = paths.get(match[1])
        return match[0] if value is None else quote(str(value), safe="")

    return _PATH_PARAM.sub(fill, str(request.uri))


class OpenAPI:
    """Sends a `Request` with a tenant token; answers the answer's `data` object."""

    def __init__(self, base_url: str, http: aiohttp.ClientSession) -> None:
        self._base_url = base_url
        self._http = http

    async def send(self, operation: str, request: Request, token: str) -> dict[str, Any]:
        """Execute `request`; FeishuError unless `code` is 0. A missing `data` is an empty one."""
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if request.body is not None:
            data = json.dumps(request.body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = JSON_TYPE
        async with self._http.request(request.method, self._base_url + path_of(request),
                                      params=dict(request.queries) or None, data=data,
                                      headers=headers) as response:
            body = await response.read()
        found = answer(operation, response.status, body).get("data")
        return found if isinstance(found, dict) else {}
