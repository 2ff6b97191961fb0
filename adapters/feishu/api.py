"""The Feishu Open API calls the adapter makes: lark-oapi's async methods, with our token and retries.

Every call gets the tenant token from `TenantToken` through `RequestOption` (lark-oapi's own fetch
blocks the loop). Bot info, resource downloads and image uploads use aiohttp directly: lark-oapi's
async download drops the response headers (protocols.md 2.9 #4), it has no typed bot-info call, and
one aiohttp multipart upload keeps a single error path for both transfers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import httpx
import lark_oapi as lark
from lark_oapi.api.cardkit.v1 import (
    ContentCardElementRequest,
    ContentCardElementRequestBody,
    CreateCardRequest,
    CreateCardRequestBody,
    SettingsCardRequest,
    SettingsCardRequestBody,
)
from lark_oapi.api.im.v1 import (
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.model import RequestOption

from adapters.feishu.errors import FeishuError, meaning
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.token import TenantToken

log = logging.getLogger(__name__)

T = TypeVar("T")


def build_client(settings: FeishuSettings) -> Any:
    """lark-oapi's client pointed at FEISHU_BASE_URL, taking the token we pass per call."""
    return (lark.Client.builder().app_id(settings.app_id).app_secret(settings.app_secret.reveal())
            .domain(settings.base_url).enable_set_token(True).log_level(lark.LogLevel.WARNING).build())


def _checked(operation: str, response: Any) -> Any:
    """The response's data, or FeishuError with Feishu's code (the HTTP status when it has none)."""
    if response.success():
        return getattr(response, "data", None)
    code = response.code if response.code is not None else getattr(response.raw, "status_code", -1)
    raise FeishuError(operation, int(code), str(response.msg or ""))


class FeishuAPI:
    """Replies, card updates, CardKit streaming, bot identity and message resources."""

    def __init__(self, settings: FeishuSettings, http: aiohttp.ClientSession, token: TenantToken) -> None:
        self._settings = settings
        self._http = http
        self._token = token
        self._client = build_client(settings)

    async def _call(self, operation: str, attempt: Callable[[str], Awaitable[T]]) -> T:
        """Run `attempt(token)`: a rejected token is refreshed once, rate limits back off."""
        tries, refreshed = 0, False
        while True:
            token = await self._token.get()
            try:
                return await attempt(token)
            except FeishuError as exc:
                error = exc
            except (httpx.HTTPError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                error = FeishuError(operation, -1, f"{type(exc).__name__}: {exc}")
            if error.token_invalid and not refreshed:
                refreshed = True
                await self._token.refresh()
                continue
            if error.rate_limited and tries < self._settings.retry_attempts:
                delay = self._settings.retry_backoff * 2**tries
                log.info("feishu %s rate limited (code %s), retrying in %.1fs", operation, error.code, delay)
                tries += 1
                await asyncio.sleep(delay)
                continue
            log.warning("feishu %s failed: code=%s (%s): %s", operation, error.code, meaning(error.code),
                        error)
            raise error

    def _sdk(self, operation: str, method: Callable[[Any, Any], Awaitable[Any]],
             request: Callable[[], Any]) -> Awaitable[Any]:
        async def attempt(token: str) -> Any:
            option = RequestOption.builder().tenant_access_token(token).build()
            return _checked(operation, await method(request(), option))

        return self._call(operation, attempt)

    async def reply(self, message_id: str, msg_type: str, content: str, in_thread: bool, uuid: str) -> str:
        """Reply to a message (in its thread when it is in one); the new message's id."""
        def request() -> Any:
            body = (ReplyMessageRequestBody.builder().msg_type(msg_type).content(content)
                    .reply_in_thread(in_thread).uuid(uuid[:50]).build())
            return ReplyMessageRequest.builder().message_id(message_id).request_body(body).build()

        data = await self._sdk("reply", self._client.im.v1.message.areply, request)
        return str(data.message_id)

    async def patch(self, message_id: str, content: str) -> None:
        """Replace an interactive card message's content."""
        def request() -> Any:
            body = PatchMessageRequestBody.builder().content(content).build()
            return PatchMessageRequest.builder().message_id(message_id).request_body(body).build()

        await self._sdk("patch card", self._client.im.v1.message.apatch, request)

    async def create_card(self, card: dict[str, Any]) -> str:
        """A CardKit card entity (JSON 2.0); its card_id."""
        def request() -> Any:
            body = CreateCardRequestBody.builder().type("card_json").data(json.dumps(card)).build()
            return CreateCardRequest.builder().request_body(body).build()

        data = await self._sdk("create card", self._client.cardkit.v1.card.acreate, request)
        return str(data.card_id)

    async def card_text(self, card_id: str, element_id: str, content: str, sequence: int) -> None:
        """Stream a card element's full text so far (CardKit types on from the common prefix)."""
        def request() -> Any:
            body = (ContentCardElementRequestBody.builder().content(content).sequence(sequence)
                    .uuid(f"{card_id}-{sequence}"[:64]).build())
            return (ContentCardElementRequest.builder().card_id(card_id).element_id(element_id)
                    .request_body(body).build())

        await self._sdk("stream card", self._client.cardkit.v1.card_element.acontent, request)

    async def card_settings(self, card_id: str, settings: dict[str, Any], sequence: int) -> None:
        """Change a card entity's settings (ends streaming mode)."""
        def request() -> Any:
            body = SettingsCardRequestBody.builder().settings(json.dumps(settings)).sequence(sequence).build()
            return SettingsCardRequest.builder().card_id(card_id).request_body(body).build()

        await self._sdk("card settings", self._client.cardkit.v1.card.asettings, request)

    async def bot_open_id(self) -> str:
        """This bot's open_id, from `/open-apis/bot/v3/info`."""
        async def attempt(token: str) -> str:
            url = f"{self._settings.base_url}/open-apis/bot/v3/info"
            async with self._http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
                data = await response.json(content_type=None)
            if not isinstance(data, dict) or data.get("code") != 0:
                code = data.get("code", response.status) if isinstance(data, dict) else response.status
                raise FeishuError("bot info", int(code), str(data.get("msg", "") if isinstance(data, dict)
                                                              else ""))
            return str((data.get("bot") or {}).get("open_id", ""))

        return await self._call("bot info", attempt)

    async def download(self, message_id: str, key: str, kind: str) -> tuple[bytes, str]:
        """A message's image or file (`kind` image|file): its bytes and MIME type."""
        async def attempt(token: str) -> tuple[bytes, str]:
            url = f"{self._settings.base_url}/open-apis/im/v1/messages/{message_id}/resources/{key}"
            headers = {"Authorization": f"Bearer {token}"}
            async with self._http.get(url, params={"type": kind}, headers=headers) as response:
                mime = response.content_type
                body = await response.read()
                if response.status == 200 and mime != "application/json":
                    return body, mime
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            raise FeishuError("download", int(data.get("code", response.status)), str(data.get("msg", "")))

        return await self._call("download", attempt)

    async def upload_image(self, data: bytes, mime: str) -> str:
        """Upload a picture for sending in messages (`image_type=message`); its image_key."""
        async def attempt(token: str) -> str:
            form = aiohttp.FormData()  # one per attempt: aiohttp refuses to send a form twice
            form.add_field("image_type", "message")
            form.add_field("image", data, filename="image." + mime.rsplit("/", 1)[-1],
                           content_type=mime)
            url = f"{self._settings.base_url}/open-apis/im/v1/images"
            headers = {"Authorization": f"Bearer {token}"}
            async with self._http.post(url, data=form, headers=headers) as response:
                body = await response.read()
            try:
                answer = json.loads(body)
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                answer = {}
            key = (answer.get("data") or {}).get("image_key") if answer.get("code") == 0 else None
            if not isinstance(key, str) or not key:
                code = answer.get("code", response.status)
                raise FeishuError("upload image", int(code), str(answer.get("msg", "")))
            return key

        return await self._call("upload image", attempt)

    async def fetch(self, url: str) -> tuple[bytes, str]:
        """A picture the image model left at a (short-lived) URL: its bytes and MIME type."""
        try:
            async with self._http.get(url) as response:  # not Feishu: no token sent
                if response.status != 200:
                    raise FeishuError("fetch picture", response.status, "picture URL not readable")
                return await response.read(), response.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FeishuError("fetch picture", -1, f"{type(exc).__name__}: {exc}") from exc
