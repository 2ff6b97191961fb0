"""`GET /wechat` (URL verification) and `POST /wechat` (messages and events, all three modes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiohttp import web

from adapters.wechat.crypto import Cipher
from adapters.wechat.delivery import Delivery, Served
from adapters.wechat.events import answer_event
from adapters.wechat.parse import Inbound, as_text, inbound, xml_fields
from adapters.wechat.render import part_reply
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.verify import require_msg_signature, require_query
from bot.errors import BadRequest, PayloadTooLarge, StorageUnavailable

log = logging.getLogger(__name__)

class Endpoint:
    """Verifies, decrypts, parses and dispatches; answers encrypted exactly when asked encrypted."""

    def __init__(self, settings: WeChatSettings, cipher: Cipher | None, delivery: Delivery,
                 vision: bool, media: bool) -> None:
        self._s = settings
        self._cipher = cipher
        self._delivery = delivery
        self._vision = vision
        self._media = media  # the media API is reachable (AppID and AppSecret set)

    async def verify(self, request: web.Request) -> web.Response:
        """URL verification: a correct signature gets `echostr` back, as received."""
        require_query(self._s.token, request.query, time.time(), self._s.replay_window)
        return web.Response(text=request.query.get("echostr", ""), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """One push: verify first, then decrypt, parse, dispatch and answer."""
        started = asyncio.get_running_loop().time()
        if (request.content_length or 0) > self._s.max_body_bytes:
            raise PayloadTooLarge("body too large")
        body = await request.read()
        if len(body) > self._s.max_body_bytes:
            raise PayloadTooLarge("body too large")
        require_query(self._s.token, request.query, time.time(), self._s.replay_window)
        encrypted = self._encrypted(request.query)
        xml = self._open(body, request.query) if encrypted else as_text(body)
        msg = inbound(xml)
        served = await self._dispatch(msg, started)
        return await self._respond(request, msg, served, encrypted, started)

    def _encrypted(self, query: Mapping[str, str]) -> bool:
        mode = query.get("encrypt_type", "raw").lower()
        if mode not in ("raw", "aes"):
            raise BadRequest(f"unknown encrypt_type {mode[:10]!r}")
        return mode == "aes"

    def _open(self, body: bytes, query: Mapping[str, str]) -> str:
        """The decrypted message of a compatible- or safe-mode push."""
        if self._cipher is None:
            log.warning("wechat: an encrypted push arrived but WECHAT_ENCODING_AES_KEY is not set")
            raise BadRequest("encrypted push, but no EncodingAESKey is configured")
        encrypt = xml_fields(body).get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise BadRequest("encrypted push without <Encrypt>")
        require_msg_signature(self._s.token, query, encrypt)
        return self._cipher.decrypt(encrypt)

    async def _dispatch(self, msg: Inbound, started: float) -> Served:
        texts = self._s.texts
        if msg.kind == "event":
            # Events are answered at once and the answer does not depend on state, so a retry
            # (same FromUserName + CreateTime) simply gets the same answer again; a menu
            # command goes through the delivery like a typed message (its record dedups).
            event = answer_event(self._s, msg)
            if event.typed is None:
                return Served(event.text)
            msg = event.typed
        if msg.kind == "text" and msg.text.strip().lower() in self._s.more_words:
            try:
                more = await self._delivery.more(msg)
            except StorageUnavailable:
                more = None  # answered as an ordinary message instead
            if more is not None:
                return more
        if msg.kind in ("text", "voice") and msg.text.strip():
            return await self._delivery.answer(msg, started)
        if msg.kind == "voice":  # no Recognition: download and transcribe when the API is there
            if self._media and msg.media_id:
                return await self._delivery.answer(msg, started)
            return Served(texts.get("wechat_voice_unsupported"))
        if msg.kind == "image":
            if self._vision:
                return await self._delivery.answer(msg, started)
            return Served(texts.get("wechat_image_unsupported"))
        return Served(texts.get("wechat_unsupported"))

    def _body(self, msg: Inbound, served: Served, encrypted: bool, nonce: str) -> str:
        if served.text is None:
            return "success"  # "no reply": never encrypted
        if not served.text:
            return ""
        xml = part_reply(msg.openid, msg.account, served.text)
        if encrypted and self._cipher is not None:
            return self._cipher.encrypt(xml, nonce, str(int(time.time())))
        return xml

    async def _respond(self, request: web.Request, msg: Inbound, served: Served, encrypted: bool,
                       started: float) -> web.StreamResponse:
        transport = request.transport
        in_time = asyncio.get_running_loop().time() - started < self._s.listens
        if transport is None or transport.is_closing() or not in_time:
            # WeChat stopped listening: the answer is not sent at all (a late write could still be
            # read, yet be recorded as unread and go out again late); it stays in the record for
            # a retry or the late delivery.
            if served.after is not None:
                await served.after(False)
            return web.Response(text="", content_type="text/plain")
        body = self._body(msg, served, encrypted, request.query.get("nonce", ""))
        content_type = "text/plain" if body in ("", "success") else "application/xml"
        response = web.Response(text=body, content_type=content_type)
        try:
            await response.prepare(request)
            await response.write_eof()
            received = True
        except (ConnectionError, RuntimeError):
            received = False
        if served.after is not None:
            await served.after(received)
        return response
