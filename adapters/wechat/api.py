"""WeChat's server API over aiohttp, rooted at `WECHAT_API_BASE`, with the access token in storage."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from bot.storage import Storage
from bot.tokens import SharedToken

log = logging.getLogger(__name__)

REFRESH_CODES = frozenset({40001, 40014, 42001})  # stale token: refresh once and retry
MEANINGS: dict[int, str] = {
    -1: "WeChat is busy; try again later",
    40001: "access token invalid or not the latest (or AppSecret wrong)",
    40003: "invalid openid",
    40005: "unsupported media file type (pictures: JPG or PNG)",
    40007: "invalid media_id",
    40009: "picture too large (temporary media: at most 10 MB)",
    40013: "invalid AppID: check WECHAT_APP_ID",
    40014: "invalid access token",
    40125: "invalid AppSecret: check WECHAT_APP_SECRET",
    40164: "this server's IP is not in the account's API IP allow-list",
    42001: "access token expired",
    45015: "the subscriber has not written in 48 h (or unsubscribed): cannot push to them",
    45047: "customer-service message quota for this subscriber is used up",
    41005: "media data missing from the upload",
    48001: "API not authorised: the account is not verified or lacks the customer-service API",
    40018: "invalid button name length in the menu layout",
    40054: "invalid button URL in the menu layout",
    45010: "customer-service message quota reached",
}
T = TypeVar("T")
TOKEN_MARGIN = 300.0  # refresh this long before WeChat's expiry (it rotates 5 min early itself)


class WeChatAPIError(Exception):
    """An error answer from WeChat (which arrives with HTTP 200 and an `errcode`)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"errcode {code}: {message}")
        self.code = code

    @property
    def meaning(self) -> str:
        """What the code means for an operator."""
        return MEANINGS.get(self.code, "see the WeChat error-code table")


def check_body(data: Any) -> dict[str, Any]:
    """The one place an answer is judged: an object with a non-zero `errcode` is an error."""
    if not isinstance(data, dict):
        raise WeChatAPIError(-2, "answer is not a JSON object")
    code = data.get("errcode", 0)
    if isinstance(code, int) and code != 0:
        raise WeChatAPIError(code, str(data.get("errmsg", "")))
    return data


class WeChatAPI:
    """Access token, customer-service messages, media upload and download."""

    def __init__(self, http: aiohttp.ClientSession, storage: Storage, base: str, app_id: str,
                 secret: str, stable_token: bool = True) -> None:
        self._http = http
        self._base = base.rstrip("/")
        self._app_id = app_id
        self._secret = secret
        self._stable = stable_token
        self._token = SharedToken(storage, f"wechat:token:{app_id}", self._fetch_token,
                                  f"wechat access token ({app_id})")

    async def _json(self, response: aiohttp.ClientResponse) -> dict[str, Any]:
        text = await response.text()
        if response.status >= 400:
            raise WeChatAPIError(-3, f"HTTP {response.status}")
        try:
            return check_body(json.loads(text))
        except json.JSONDecodeError:
            raise WeChatAPIError(-2, "answer is not JSON") from None

    async def _fetch_token(self) -> tuple[str, float]:
        """A new token from WeChat and how long to keep it (a margin before it expires)."""
        if self._stable:
            body = {"grant_type": "client_credential", "appid": self._app_id,
                    "secret": self._secret, "force_refresh": False}
            request = self._http.post(f"{self._base}/cgi-bin/stable_token", json=body)
        else:
            params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
            request = self._http.get(f"{self._base}/cgi-bin/token", params=params)
        async with request as response:
            data = await self._json(response)
        token, expires = data.get("access_token"), data.get("expires_in", 7200)
        if not isinstance(token, str) or not token:
            raise WeChatAPIError(-2, "token answer without access_token")
        return token, max(60.0, float(expires) - TOKEN_MARGIN)

    async def token(self, stale: str | None = None) -> str:
        """A valid access token (shared by every instance), other than `stale` when given."""
        if stale is None:
            return await self._token.get()
        return await self._token.refresh(stale)

    async def _with_token(self, attempt: Callable[[str], Awaitable[T]]) -> T:
        """`attempt(token)`; on a stale-token errcode refresh the token once and try again."""
        token = await self.token()
        try:
            return await attempt(token)
        except WeChatAPIError as exc:
            if exc.code not in REFRESH_CODES:
                raise
            log.info("wechat: access token rejected (%s), refreshing once", exc.code)
        return await attempt(await self.token(stale=token))

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON with the access token; on a stale-token errcode refresh once and retry."""
        return await self._with_token(lambda token: self._post(path, payload, token))

    async def _post(self, path: str, payload: dict[str, Any], token: str) -> dict[str, Any]:
        url = f"{self._base}{path}"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        async with self._http.post(url, params={"access_token": token}, data=body,
                                   headers={"Content-Type": "application/json"}) as response:
            return await self._json(response)

    async def send_text(self, openid: str, content: str) -> None:
        """A customer-service text message (verified accounts, within 48 h of the user's message)."""
        await self.call("/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "text", "text": {"content": content}})

    async def send_image(self, openid: str, media_id: str) -> None:
        """A customer-service image message with an uploaded picture."""
        await self.call("/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})

    async def create_menu(self, buttons: list[Any]) -> None:
        """Replace the account's custom menu (`menu_layout`: WeChat's `button` list)."""
        await self.call("/cgi-bin/menu/create", {"button": buttons})

    async def send_voice(self, openid: str, media_id: str) -> None:
        """A customer-service voice message with an uploaded clip."""
        await self.call("/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "voice", "voice": {"media_id": media_id}})

    async def upload_image(self, data: bytes, mime: str) -> str:
        """Upload a picture as temporary media (kept 3 days by WeChat); its media_id."""
        name = "image.jpg" if mime in ("image/jpeg", "image/jpg") else "image.png"
        return await self.upload("image", data, name, mime)

    async def upload_voice(self, data: bytes, mime: str) -> str:
        """Upload a voice clip (mp3 or AMR, at most 2 MB and 60 s) as temporary media."""
        name = "voice.amr" if mime == "audio/amr" else "voice.mp3"
        return await self.upload("voice", data, name, mime)

    async def upload(self, kind: str, data: bytes, name: str, mime: str) -> str:
        """`POST /cgi-bin/media/upload?type=KIND` (multipart field `media`); the media_id."""
        async def attempt(token: str) -> str:
            form = aiohttp.FormData()  # one per attempt: aiohttp refuses to send a form twice
            form.add_field("media", data, filename=name, content_type=mime)
            params = {"access_token": token, "type": kind}
            async with self._http.post(f"{self._base}/cgi-bin/media/upload", params=params,
                                       data=form) as response:
                answer = await self._json(response)
            media_id = answer.get("media_id")
            if not isinstance(media_id, str) or not media_id:
                raise WeChatAPIError(-2, "upload answer without media_id")
            return media_id

        return await self._with_token(attempt)

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """The media's bytes and MIME type; errors come back as JSON with HTTP 200."""
        for attempt in range(2):
            token = await self.token()
            params = {"access_token": token, "media_id": media_id}
            async with self._http.get(f"{self._base}/cgi-bin/media/get", params=params) as response:
                data = await response.read()
                mime = response.content_type
            if not data.lstrip().startswith(b"{"):
                return data, mime
            try:
                check_body(json.loads(data))
            except WeChatAPIError as exc:
                if exc.code not in REFRESH_CODES or attempt:
                    raise
                await self.token(stale=token)
                continue
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass
            return data, mime
        raise WeChatAPIError(-2, "media download failed")
