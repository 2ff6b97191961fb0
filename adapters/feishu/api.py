"""The Feishu Open API calls the adapter makes, with our tenant token and retries.

Replies, card patches and CardKit calls are the same requests lark-oapi's typed builders make,
described in transport.py and sent on the shared aiohttp session (lark-oapi's own async transport
opens a new HTTP client per call, and importing a builder loads the whole SDK). Bot info, resource
downloads and image uploads are plain aiohttp calls: lark-oapi's async download drops the response
headers (docs/feishu.md §8), it has no typed bot-info call, and one aiohttp multipart upload
keeps a single error path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from adapters.feishu.errors import FeishuError, meaning
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.token import TenantToken
from adapters.feishu.transport import OpenAPI, Request, answer

log = logging.getLogger(__name__)

T = TypeVar("T")


class FeishuAPI:
    """Replies, card updates, CardKit streaming, bot identity and message resources."""

    def __init__(self, settings: FeishuSettings, http: aiohttp.ClientSession, token: TenantToken) -> None:
        self._settings = settings
        self._http = http
        self._token = token
        self._open_api = OpenAPI(settings.base_url, http)

    async def _call(self, operation: str, attempt: Callable[[str], Awaitable[T]]) -> T:
        """Run `attempt(token)`: a rejected token is refreshed once, rate limits back off."""
        tries, refreshed = 0, False
        while True:
            token = await self._token.get()
            try:
                return await attempt(token)
            except FeishuError as exc:
                error = exc
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                error = FeishuError(operation, -1, f"{type(exc).__name__}: {exc}")
            if error.token_invalid and not refreshed:
                refreshed = True
                await self._token.refresh(token)
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

    def _typed(self, operation: str, request: Request) -> Awaitable[dict[str, Any]]:
        """Send `request` (unchanged, so retries resend it); the answer's `data` object."""
        async def attempt(token: str) -> dict[str, Any]:
            return await self._open_api.send(operation, request, token)

        return self._call(operation, attempt)

    async def reply(self, message_id: str, msg_type: str, content: str, in_thread: bool, uuid: str) -> str:
        """Reply to a message (in its thread when it is in one); the new message's id."""
        body = {"msg_type": msg_type, "content": content, "reply_in_thread": in_thread,
                "uuid": uuid[:50]}
        request = Request("POST", "/open-apis/im/v1/messages/:message_id/reply",
                          {"message_id": message_id}, body=body)
        return str((await self._typed("reply", request)).get("message_id"))

    async def send(self, id_type: str, receive_id: str, msg_type: str, content: str,
                   uuid: str) -> str:
        """A new message to a user (`open_id`) or a chat (`chat_id`); the new message's id."""
        body = {"receive_id": receive_id, "msg_type": msg_type, "content": content, "uuid": uuid[:50]}
        request = Request("POST", "/open-apis/im/v1/messages", queries={"receive_id_type": id_type},
                          body=body)
        return str((await self._typed("send", request)).get("message_id"))

    async def patch(self, message_id: str, content: str) -> None:
        """Replace an interactive card message's content."""
        request = Request("PATCH", "/open-apis/im/v1/messages/:message_id", {"message_id": message_id},
                          body={"content": content})
        await self._typed("patch card", request)

    async def create_card(self, card: dict[str, Any]) -> str:
        """A CardKit card entity (JSON 2.0); its card_id."""
        request = Request("POST", "/open-apis/cardkit/v1/cards",
                          body={"type": "card_json", "data": json.dumps(card)})
        return str((await self._typed("create card", request)).get("card_id"))

    async def card_text(self, card_id: str, element_id: str, content: str, sequence: int) -> None:
        """Stream a card element's full text so far (CardKit types on from the common prefix)."""
        body = {"content": content, "sequence": sequence, "uuid": f"{card_id}-{sequence}"[:64]}
        request = Request("PUT", "/open-apis/cardkit/v1/cards/:card_id/elements/:element_id/content",
                          {"card_id": card_id, "element_id": element_id}, body=body)
        await self._typed("stream card", request)

    async def card_settings(self, card_id: str, settings: dict[str, Any], sequence: int) -> None:
        """Change a card entity's settings (ends streaming mode)."""
        request = Request("PATCH", "/open-apis/cardkit/v1/cards/:card_id/settings", {"card_id": card_id},
                          body={"settings": json.dumps(settings), "sequence": sequence})
        await self._typed("card settings", request)

    async def _get(self, operation: str, path: str, token: str) -> dict[str, Any]:
        async with self._http.get(self._settings.base_url + path,
                                  headers={"Authorization": f"Bearer {token}"}) as response:
            return answer(operation, response.status, await response.read())

    async def bot_open_id(self) -> str:
        """This bot's open_id, from `/open-apis/bot/v3/info`."""
        async def attempt(token: str) -> str:
            data = await self._get("bot info", "/open-apis/bot/v3/info", token)
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
            answer("download", response.status, body)  # raises with Feishu's code
            raise FeishuError("download", -1, "a JSON answer instead of the file")

        return await self._call("download", attempt)

    async def upload_image(self, data: bytes, mime: str) -> str:
        """Upload a picture for sending in messages (`image_type=message`); its image_key."""
        name = "image." + mime.rsplit("/", 1)[-1]
        return await self._upload("upload image", "images", {"image_type": "message"},
                                  ("image", data, name, mime), "image_key")

    async def upload_file(self, data: bytes, file_type: str, name: str, duration_ms: int) -> str:
        """Upload a file for sending in messages (`im/v1/files`; audio: `opus` with its
        duration in ms); its file_key."""
        fields = {"file_type": file_type, "file_name": name, "duration": str(duration_ms)}
        return await self._upload("upload file", "files", fields,
                                  ("file", data, name, "application/octet-stream"), "file_key")

    async def _upload(self, operation: str, path: str, fields: dict[str, str],
                      file: tuple[str, bytes, str, str], key_name: str) -> str:
        """One multipart upload to `im/v1/{path}`: `fields`, then `file` (field, bytes, file
        name, type); the key the answer names `key_name`."""
        async def attempt(token: str) -> str:
            form = aiohttp.FormData()  # one per attempt: aiohttp refuses to send a form twice
            for name, value in fields.items():
                form.add_field(name, value)
            field, data, filename, content_type = file
            form.add_field(field, data, filename=filename, content_type=content_type)
            url = f"{self._settings.base_url}/open-apis/im/v1/{path}"
            headers = {"Authorization": f"Bearer {token}"}
            async with self._http.post(url, data=form, headers=headers) as response:
                body = await response.read()
            key = (answer(operation, response.status, body).get("data") or {}).get(key_name)
            if not isinstance(key, str) or not key:
                raise FeishuError(operation, -1, f"no {key_name} in the answer")
            return key

        return await self._call(operation, attempt)

    async def fetch(self, url: str) -> tuple[bytes, str]:
        """A picture the image model left at a (short-lived) URL: its bytes and MIME type."""
        try:
            async with self._http.get(url) as response:  # not Feishu: no token sent
                if response.status != 200:
                    raise FeishuError("fetch picture", response.status, "picture URL not readable")
                return await response.read(), response.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FeishuError("fetch picture", -1, f"{type(exc).__name__}: {exc}") from exc
