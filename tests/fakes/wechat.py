"""WeChat in tests: the server API (token, customer service, media) and the pushing side.

`FakeWeChatAPI` is an aiohttp app speaking the real wire format (errors as HTTP 200 + errcode)
and recording what it receives. `WeChatPusher` plays WeChat's message server against our endpoint:
it signs (and in compatible/safe mode encrypts, with wechatpy) each push, gives up after a timeout
and retries the same body, as WeChat does, and decrypts our reply with wechatpy.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import to_text

from adapters.wechat.verify import sign
from tests.fakes.audio import audio_seconds
from tests.fakes.server import LoopbackServer

APP_ID = "wx1234567890abcdef"
APP_SECRET = "test-secret"
TOKEN = "test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oUser123"
ACCOUNT = "gh_account"


@dataclass
class FakeWeChatAPI:
    """Token endpoints with expiry, customer-service send, typing, media get/upload."""

    expires_in: int = 7200
    send_errors: list[int] = field(default_factory=list)  # errcodes for the next sends
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    received: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)  # accepted media uploads
    upload_errors: list[int] = field(default_factory=list)  # errcodes for the next uploads
    upload_latency: float = 0.0
    valid_tokens: set[str] = field(default_factory=set)
    apps: dict[str, str] = field(default_factory=lambda: {APP_ID: APP_SECRET})  # AppID -> secret
    issued: dict[str, str] = field(default_factory=dict)  # token -> the AppID it was issued to
    menus: list[Any] = field(default_factory=list)  # `button` lists created, in order
    server: LoopbackServer | None = None
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        app.router.add_post("/cgi-bin/message/custom/typing", self._typing)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        app.router.add_post("/cgi-bin/menu/create", self._menu_create)
        return app

    def expire_tokens(self) -> None:
        """Every token issued so far becomes stale (WeChat answers 40001)."""
        self.valid_tokens.clear()

    def calls(self, path: str) -> list[tuple[str, str, dict[str, str], Any]]:
        """Recorded requests to `path`."""
        return [r for r in self.received if r[1] == path]

    async def wait_sent(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `count` customer-service messages arrived (an event, not a poll)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.sent) >= count), seconds)
        return self.sent

    async def _record(self, request: web.Request, body: Any) -> None:
        self.received.append((request.method, request.path, dict(request.query), body))

    def _issue(self, appid: Any, secret: Any) -> web.Response:
        if appid not in self.apps:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid hint: [x]"})
        if secret != self.apps[appid]:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"ACCESS_TOKEN_{next(self._counter)}"
        self.valid_tokens.add(token)
        self.issued[token] = str(appid)
        return web.json_response({"access_token": token, "expires_in": self.expires_in})

    async def _token(self, request: web.Request) -> web.Response:
        await self._record(request, None)
        return self._issue(request.query.get("appid"), request.query.get("secret"))

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(request, body)
        return self._issue(body.get("appid"), body.get("secret"))

    def _bad_token(self, request: web.Request) -> web.Response | None:
        if request.query.get("access_token") in self.valid_tokens:
            return None
        return web.json_response({"errcode": 40001, "errmsg": "invalid credential, access_token "
                                  "is invalid or not latest"})

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(request, body)
        if (refused := self._bad_token(request)) is not None:
            return refused
        if self.send_errors:
            code = self.send_errors.pop(0)
            return web.json_response({"errcode": code, "errmsg": "response out of time limit"})
        async with self._changed:
            self.sent.append(body)
            self._changed.notify_all()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _menu_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(request, body)
        if (refused := self._bad_token(request)) is not None:
            return refused
        self.menus.append(body.get("button"))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _typing(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(request, body)
        return self._bad_token(request) or web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _media_get(self, request: web.Request) -> web.Response:
        await self._record(request, None)
        if (refused := self._bad_token(request)) is not None:
            return refused
        media_id = request.query.get("media_id", "")
        if media_id not in self.media:
            # WeChat's media errors: JSON, HTTP 200, sometimes labelled text/plain
            return web.Response(text='{"errcode":40007,"errmsg":"invalid media_id"}',
                                content_type="text/plain")
        data, mime = self.media[media_id]
        return web.Response(body=data, content_type=mime, headers={
            "Content-Disposition": f'attachment; filename="{media_id}.jpg"'})

    async def _media_upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        await self._record(request, {k: v for k, v in form.items() if isinstance(v, str)})
        if (refused := self._bad_token(request)) is not None:
            return refused
        await asyncio.sleep(self.upload_latency)
        if self.upload_errors:
            return web.json_response({"errcode": self.upload_errors.pop(0), "errmsg": "fake failure"})
        media = form.get("media")
        if not isinstance(media, web.FileField):
            return web.json_response({"errcode": 41005, "errmsg": "media data missing"})
        media_type = request.query.get("type", "")
        if media_type not in ("image", "voice", "video", "thumb"):
            return web.json_response({"errcode": 40004, "errmsg": "invalid media type"})
        data = media.file.read()
        if media_type == "voice" and (refusal := voice_refusal(media.filename, data)):
            return web.json_response(refusal)
        media_id = f"MEDIA_{next(self._counter)}"
        self.uploads.append({"media_id": media_id, "type": media_type, "filename": media.filename,
                             "content_type": media.content_type, "data": data})
        return web.json_response({"type": media_type, "media_id": media_id,
                                  "created_at": int(time.time())})


def voice_refusal(filename: str, data: bytes) -> dict[str, Any] | None:
    """WeChat's limits for temporary voice media: AMR or MP3, at most 2 MB and 60 s."""
    if not filename.lower().endswith((".amr", ".mp3")):
        return {"errcode": 40005, "errmsg": "invalid file type"}
    if len(data) > 2 * 1024 * 1024 or audio_seconds(data) > 60.0:
        return {"errcode": 40006, "errmsg": "invalid meida size"}
    return None


def text_xml(content: str, msg_id: int = 1234567890123456, openid: str = OPENID,
             create_time: int = 1348831860) -> str:
    """An official-shaped text push."""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{msg_id}</MsgId></xml>")


def message_xml(kind: str, fields: str, msg_id: int = 1234567890123456, openid: str = OPENID,
                create_time: int = 1357290913) -> str:
    """Any push: `fields` is the XML of the type-specific children."""
    ident = f"<MsgId>{msg_id}</MsgId>" if kind != "event" else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
            f"<MsgType><![CDATA[{kind}]]></MsgType>{fields}{ident}</xml>")


@dataclass
class Reply:
    """What our endpoint answered to one attempt (None when WeChat had stopped listening)."""

    status: int
    body: str
    content: str | None  # the text reply's Content, decrypted and parsed with wechatpy
    encrypted: bool
    media_id: str | None = None  # an image reply's Image/MediaId (or a voice reply's)
    kind: str = "text"  # the reply's MsgType: text, image or voice


@dataclass
class WeChatPusher:
    """WeChat's message server: signs, encrypts, pushes, times out and retries like WeChat."""

    url: str
    mode: str = "plain"  # plain | compatible | safe
    alternates: list[str] = field(default_factory=list)  # other instances, one per retry in turn
    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID
    timeout: float = 5.0
    attempts: int = 3
    http: aiohttp.ClientSession | None = None
    service: Any = None  # the RunningService under test
    path: str = "/wechat"  # the account's path (`/wechat/{id}` for a listed account)

    @property
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.app_id)

    def sign_push(self, xml: str, timestamp: str | None = None, nonce: str = "415670741"
                  ) -> tuple[dict[str, str], str]:
        """The query and body WeChat would send for this message in this mode."""
        timestamp = timestamp or str(int(time.time()))
        query = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp,
                 "nonce": nonce, "openid": OPENID}
        if self.mode == "plain":
            return query, xml
        envelope = self.crypto.encrypt_message(xml, nonce, timestamp)
        encrypt = parse_envelope(envelope)
        query.update(encrypt_type="aes", msg_signature=sign(self.token, timestamp, nonce, encrypt))
        if self.mode == "safe":
            return query, (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                           f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return query, xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")

    async def post(self, query: dict[str, str], body: str | bytes, url: str | None = None
                   ) -> Reply | None:
        """One attempt; None when our endpoint did not answer within `self.timeout`."""
        assert self.http is not None
        limit = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self.http.post(f"{url or self.url}{self.path}", params=query, data=body,
                                      timeout=limit) as response:
                text = await response.text()
                return self.read_reply(response.status, text, query)
        except TimeoutError:
            return None

    def read_reply(self, status: int, text: str, query: dict[str, str]) -> Reply:
        """Decrypt (with wechatpy) and parse our answer."""
        if status != 200 or text in ("", "success"):
            return Reply(status, text, None, False)
        encrypted = "<Encrypt>" in text
        xml = text
        if encrypted:
            fields = parse_message_fields(text)
            xml = self.crypto.decrypt_message(text, fields["MsgSignature"], fields["TimeStamp"],
                                              fields["Nonce"])
        fields = parse_message_fields(xml)
        kind = fields.get("MsgType", "text")
        if kind in ("image", "voice"):
            media: Any = xmltodict.parse(xml)["xml"][kind.capitalize()]
            return Reply(status, text, None, encrypted, media_id=str(media["MediaId"]), kind=kind)
        message = parse_message(xml)
        return Reply(status, text, message.content, encrypted)

    async def push(self, xml: str) -> tuple[Reply | None, int]:
        """Deliver like WeChat: retry the same push until answered; (reply, attempts used)."""
        query, body = self.sign_push(xml)
        urls = [self.url, *self.alternates]
        for attempt in range(1, self.attempts + 1):
            reply = await self.post(query, body, url=urls[(attempt - 1) % len(urls)])
            if reply is not None:
                return reply, attempt
        return None, self.attempts


def parse_envelope(envelope: str) -> str:
    """The Encrypt field of an encrypted envelope."""
    return str(parse_message_fields(envelope)["Encrypt"])


def parse_message_fields(xml: str) -> dict[str, str]:
    """The children of `<xml>` (for reply envelopes)."""
    return {k: to_text(v) for k, v in xmltodict.parse(xml)["xml"].items() if isinstance(v, str)}


@asynccontextmanager
async def wechat_api() -> AsyncIterator[FakeWeChatAPI]:
    """The fake WeChat API on a free loopback port."""
    fake = FakeWeChatAPI()
    fake.server = await LoopbackServer(fake.app()).start()
    try:
        yield fake
    finally:
        await fake.server.close()


async def start_wechat(start_service: Callable[..., Awaitable[Any]], api: FakeWeChatAPI | None = None,
                       mode: str = "plain", env: dict[str, str] | None = None,
                       llm: dict[str, Any] | None = None, storage: dict[str, Any] | None = None,
                       voice_reply: str = "auto", **wechat: Any) -> WeChatPusher:
    """A service with the WeChat adapter on, and a pusher aimed at it (`pusher.service`)."""
    from adapters import wechat as adapter
    from tests.conftest import base_config

    environment = {"WECHAT_TOKEN": TOKEN, **(env or {})}
    if mode != "plain":
        environment.update(WECHAT_ENCODING_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID)
    if api is not None:
        environment.update(WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE=api.url)
    sections = {name: value for name, value in (("llm", llm), ("storage", storage)) if value}
    config = {**base_config(wechat=wechat, **sections), "voice_reply": voice_reply}
    service = await start_service(config=config, env=environment, adapters=[adapter.create])
    return WeChatPusher(service.url, mode=mode, http=service.http, service=service)


SETTLING = ("wechat-answer", "job-wechat.answer", "wechat-settle")


async def settle(*names: str) -> None:
    """Wait for the answers being made and their settling jobs to finish (the tasks themselves)."""
    jobs = [t for t in asyncio.all_tasks() if t.get_name() in (names or SETTLING)]
    if jobs:
        await asyncio.wait(jobs, timeout=10)
