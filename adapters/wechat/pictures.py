"""Pictures in a reply (from /image) uploaded as WeChat temporary media, ready to send by media_id."""

from __future__ import annotations

import logging

import aiohttp

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.render import image_part
from bot.messages import Image

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # WeChat's limit for temporary image media


class Pictures:
    """Turns `Reply.images` into picture parts; a picture that cannot be uploaded is left out."""

    def __init__(self, api: WeChatAPI | None, http: aiohttp.ClientSession) -> None:
        self._api = api
        self._http = http

    async def parts(self, images: tuple[Image, ...]) -> list[str]:
        """One picture part per uploaded image (empty without the server API)."""
        if self._api is None:
            if images:
                log.warning("wechat: a picture cannot be sent without WECHAT_APP_ID/WECHAT_APP_SECRET")
            return []
        parts = []
        for image in images:
            try:
                data, mime = await self._bytes(image)
                parts.append(image_part(await self._api.upload_image(data, mime)))
            except WeChatAPIError as exc:
                log.warning("wechat: picture upload failed, errcode %s (%s)", exc.code, exc.meaning)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("wechat: picture not sent (%s: %s)", type(exc).__name__, exc)
        return parts

    async def _bytes(self, image: Image) -> tuple[bytes, str]:
        """The picture's bytes: as generated, or fetched from its (short-lived) URL."""
        if image.data is not None:
            data, mime = image.data, image.mime
        elif image.url:
            async with self._http.get(image.url) as response:
                response.raise_for_status()
                data, mime = await response.read(), response.content_type or image.mime
        else:
            raise ValueError("the picture has neither bytes nor a URL")
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"the picture is {len(data)} bytes, over WeChat's 10 MB")
        return data, mime
