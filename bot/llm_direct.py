"""The chat-completion POST sent straight on the SDK's own aiohttp session, for the hot path.

The SDK spends ~0.45 ms of CPU per call building its request (option models, httpx headers and
URL, the cookie jar) before aiohttp sends it; a WeChat message's whole budget is ~2 ms. So the
first attempt goes out directly, with the SDK's headers and timeouts, and the SDK still decides
everything else: a failed attempt becomes the SDK's own error (built by the SDK's transport
exception map and its status-error builder) or, when the SDK would retry, is followed by the
SDK's back-off and the SDK's own call with the retries left, so a failing call makes as many
attempts, spaced as before. Streams are decoded by the SDK's SSE decoder.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import aiohttp
import httpx2
import openai
import orjson
from openai._streaming import SSEDecoder
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

from bot.llm_wire import AUTH
from bot.settings import LLMSettings

# The SDK's back-off before its first retry, and the longest server-directed delay it honours
# (openai/_constants.py: INITIAL_RETRY_DELAY, MAX_RETRY_AFTER_DELAY).
FIRST_BACKOFF = 0.5
MAX_RETRY_AFTER = 60.0
RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx, as the SDK's _should_retry


class Failed(Exception):
    """The direct attempt did not return an answer: `delay` is how long the SDK would wait before
    retrying (None: it would not retry), `error` what the SDK raises when it does not."""

    def __init__(self, delay: float | None, error: openai.APIError) -> None:
        super().__init__(f"direct attempt failed (retry after {delay})")
        self.delay = delay
        self.error = error


class Session:
    """The LLM's one aiohttp client session, made on first use (inside the event loop), with the
    connection limits of the SDK's aiohttp client; the SDK's transport and DirectChat share it."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def __call__(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=5.0)
            # No trust_env (as the SDK's own session): it reads ~/.netrc in a thread per request.
            self._session = aiohttp.ClientSession(connector=connector,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        """Close the session (the SDK's transport closes it only when it has sent a request)."""
        if self._session is not None:
            await self._session.close()


def sdk_client(settings: LLMSettings, http: Session) -> openai.AsyncOpenAI:
    """`openai.AsyncOpenAI` on the SDK's aiohttp transport, sending through `http`."""
    return openai.AsyncOpenAI(
        api_key=settings.api_key.reveal() or "unset",
        base_url=settings.base_url,
        # The SDK retries 408/409/429/5xx and connection errors with jittered backoff;
        # we bound it explicitly instead of relying on its defaults (2 retries, 600 s).
        max_retries=settings.max_retries,
        timeout=openai.Timeout(settings.timeout, connect=settings.connect_timeout),
        http_client=openai.DefaultAioHttpClient(transport=AiohttpTransport(client=http)),
    )


class DirectChat:
    """`POST {base_url}/chat/completions` as the SDK would send it: first directly, then (when
    that attempt failed and the SDK would retry) through the SDK with the retries left."""

    def __init__(self, settings: LLMSettings, client: openai.AsyncOpenAI, http: Session) -> None:
        self._http = http
        self._client = client
        self._retries = settings.max_retries
        self._after = client.with_options(max_retries=max(0, settings.max_retries - 1))
        self._url = f"{str(client.base_url).rstrip('/')}/chat/completions"
        headers = {**client.default_headers, **client.auth_headers}
        self._headers = {name: value for name, value in headers.items()
                         if isinstance(value, str)}  # the SDK's Omit() marks headers not sent
        # The same limits the SDK's transport applies from openai.Timeout(timeout, connect=…).
        self._timeout = aiohttp.ClientTimeout(sock_connect=settings.connect_timeout,
                                              sock_read=settings.timeout, connect=settings.timeout)

    async def whole(self, body: dict[str, Any]) -> Any:
        """The decoded answer (its text when it is not JSON); the SDK's errors."""
        try:
            response = await self._open(body)
        except Failed as failed:
            await self._after_failure(failed)
            return await self._after.post("/chat/completions", cast_to=object, options=AUTH,
                                          body=body)
        async with response:
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise transport_error(exc, self._url)  # noqa: B904 - its cause is the SDK's
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw.decode(errors="replace")

    async def stream(self, body: dict[str, Any]) -> AsyncGenerator[Any, None]:
        """The decoded chunks of a streamed answer; the SDK's errors (an error event included)."""
        try:
            response = await self._open(body)
        except Failed as failed:
            await self._after_failure(failed)
            chunks = await self._after.post("/chat/completions", cast_to=object, options=AUTH,
                                            body=body, stream=True,
                                            stream_cls=openai.AsyncStream[object])
            async for chunk in chunks:
                yield chunk
            return
        async with response:
            async for chunk in self._events(response):
                yield chunk

    async def _open(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """The 2xx response, its body unread; Failed otherwise."""
        try:
            response = await self._http().post(self._url, data=orjson.dumps(body),
                                               headers=self._headers, timeout=self._timeout)
            if response.status < 300:  # redirects were followed, as the SDK does
                return response
            async with response:
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise Failed(backoff(), transport_error(exc, self._url)) from None
        raise Failed(retry_delay(response.status, response.headers),
                     self._status_error(response, raw))

    async def _after_failure(self, failed: Failed) -> None:
        """Raise the SDK's error when the SDK would not retry; else wait its back-off."""
        if failed.delay is None or self._retries == 0:
            raise failed.error
        await asyncio.sleep(failed.delay)

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncIterator[Any]:
        """The stream's data events as JSON, decoded by the SDK's own SSE decoder, until [DONE];
        an event carrying `error` raises the SDK's APIError, as the SDK's stream does."""
        request = httpx2.Request("POST", self._url)
        try:
            async for event in SSEDecoder().aiter_bytes(response.content.iter_any()):
                if event.data.startswith("[DONE]"):
                    await response.read()  # the rest of the body, so the connection is reused
                    return
                data = orjson.loads(event.data)
                if isinstance(data, dict) and data.get("error"):
                    raise openai.APIError(_stream_message(data["error"]), request,
                                          body=data["error"])
                yield data
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise transport_error(exc, self._url)  # noqa: B904 - its cause is the SDK's

    def _status_error(self, response: aiohttp.ClientResponse, raw: bytes) -> openai.APIError:
        """The SDK's own error for an error answer, made by the SDK from the same response."""
        request = httpx2.Request("POST", self._url)
        answer = httpx2.Response(response.status, headers=response.raw_headers, content=raw,
                                 request=request)
        return self._client._make_status_error_from_response(answer)


def _stream_message(error: Any) -> str:
    """The SDK's message for an error event: its `message`, else a generic one."""
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


def transport_error(exc: Exception, url: str) -> openai.APIError:
    """The SDK's error for a failed send: aiohttp's exception mapped by the SDK's transport, then
    wrapped as the SDK's client does (timeouts as APITimeoutError, the rest APIConnectionError)."""
    request = httpx2.Request("POST", url)
    try:
        with map_aiohttp_exceptions():
            raise exc
    except httpx2.TimeoutException as mapped:
        error: openai.APIError = openai.APITimeoutError(request=request)
        error.__cause__ = mapped
    except Exception as mapped:  # the SDK reports every other send failure this way
        error = openai.APIConnectionError(request=request)
        error.__cause__ = mapped
    return error


def retry_delay(status: int, headers: Mapping[str, str]) -> float | None:
    """The SDK's decision on a failed response: its wait before retrying, or None for no retry."""
    after = _retry_after(headers)
    if after is not None and after > MAX_RETRY_AFTER:
        return None
    should = headers.get("x-should-retry")
    if should == "false" or (should != "true" and status not in RETRIED_STATUSES
                             and status < 500):
        return None
    return after if after is not None and after > 0 else backoff()


def backoff() -> float:
    """The SDK's first back-off: 0.5 s less up to 25% jitter."""
    return FIRST_BACKOFF * (1 - 0.25 * random.random())


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms` or `retry-after` in seconds, as a number or an HTTP date."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value) / divisor
        except ValueError:
            continue
        return delay if math.isfinite(delay) else MAX_RETRY_AFTER + 1
    try:
        when = email.utils.parsedate_tz(headers.get("retry-after", ""))
        return None if when is None else email.utils.mktime_tz(when) - time.time()
    except (TypeError, ValueError, OverflowError):
        return None
