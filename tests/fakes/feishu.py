"""A fake Feishu Open API: tenant token, bot info, messages, card patch, CardKit, resources.

Speaks the real wire shapes (`{"code":0,"msg":"success","data":{…}}`, Bearer tenant tokens) and
records every call. Also builds and posts `im.message.receive_v1` callbacks for tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from adapters.feishu.crypto import encrypt, signature
from bot.tasks import TaskOwner
from tests.fakes.server import LoopbackServer

APP_ID, APP_SECRET = "cli_a1b2c3d4e5f6", "app-secret-1"
TOKEN = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV"
ENCRYPT_KEY = "test key"
BOT_OPEN_ID = "ou_bot0000000000000000000000000001"
USER_OPEN_ID = "ou_84aad35d084aa403a838cf73ee18467"
RATE_LIMIT_CODES = {99991400, 99991402, 11020, 11021, 11232, 230020}


@dataclass
class Call:
    """One request the fake received."""

    op: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    answer: dict[str, Any] | None = None  # `data` of a successful answer
    peer: tuple[str, int] | None = None  # the client's address: one per connection
    app: str = ""  # the app whose tenant token authorised the call


@dataclass
class FakeFeishu:
    """Behaviour knobs (`fail_next[op]` = Feishu codes for the next calls of `op`) and the record."""

    tenant_token: str = "t-caecc734c2e3328a62489fe0648c4b98779515d3"
    token_expire: int = 7200
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    resources: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    apps: dict[str, str] = field(default_factory=lambda: {APP_ID: APP_SECRET})  # app_id -> secret
    server: LoopbackServer | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def ops(self, *names: str) -> list[Call]:
        """Calls of the given operations, in order."""
        return [c for c in self.calls if c.op in names]

    async def wait_for(self, predicate: Callable[[FakeFeishu], bool], within: float = 5.0) -> None:
        """Until `predicate(self)` holds; fails the test after `within` seconds."""
        deadline = time.monotonic() + within
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"fake Feishu: condition not met; calls: {[c.op for c in self.calls]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue

    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        r.add_post("/callback/ws/endpoint", self._ws_endpoint)
        r.add_get("/open-apis/bot/v3/info", self._wrap("bot_info", self._bot_info))
        r.add_post("/open-apis/im/v1/messages/{message_id}/reply", self._wrap("reply", self._message))
        r.add_post("/open-apis/im/v1/messages", self._wrap("create", self._message))
        r.add_patch("/open-apis/im/v1/messages/{message_id}", self._wrap("patch", self._empty))
        r.add_post("/open-apis/cardkit/v1/cards", self._wrap("create_card", self._card))
        r.add_put("/open-apis/cardkit/v1/cards/{card_id}/elements/{element_id}/content",
                  self._wrap("card_content", self._empty))
        r.add_patch("/open-apis/cardkit/v1/cards/{card_id}/settings",
                    self._wrap("card_settings", self._empty))
        r.add_get("/open-apis/im/v1/messages/{message_id}/resources/{file_key}",
                  self._wrap("resource", self._resource))
        r.add_post("/open-apis/im/v1/images", self._wrap("upload_image", self._upload_image))
        r.add_post("/open-apis/im/v1/files", self._wrap("upload_file", self._upload_file))
        return app

    async def _record(self, op: str, request: web.Request) -> Call:
        if request.content_type == "multipart/form-data":
            body = await _form(request)
        else:
            raw = await request.read()
            body = json.loads(raw) if raw else {}
        peername = request.transport.get_extra_info("peername") if request.transport else None
        call = Call(op, request.method, request.path, dict(request.query), dict(request.headers), body,
                    time.monotonic(), peer=tuple(peername[:2]) if peername else None)
        self.calls.append(call)
        self._changed.set()
        return call

    def token_of(self, app_id: str) -> str:
        """The tenant token issued to an app (each app has its own)."""
        return self.tenant_token if app_id == APP_ID else f"t-{app_id}"

    def bot_of(self, app_id: str) -> str:
        """Each app's bot open_id."""
        return BOT_OPEN_ID if app_id == APP_ID else f"ou_bot_{app_id}"

    def _app_of(self, request: web.Request) -> str | None:
        offered = request.headers.get("Authorization", "")
        return next((a for a in self.apps if offered == f"Bearer {self.token_of(a)}"), None)

    async def _token(self, request: web.Request) -> web.Response:
        call = await self._record("token", request)
        app_id = call.body.get("app_id")
        if app_id not in self.apps or call.body.get("app_secret") != self.apps[app_id]:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": self.token_of(app_id),
                                  "expire": self.token_expire})

    async def _ws_endpoint(self, request: web.Request) -> web.Response:
        """The long connection's endpoint discovery: refused, so lark-oapi's client stops cleanly."""
        await self._record("ws_endpoint", request)
        return web.json_response({"code": 10013, "msg": "fake: no long connection in tests"})

    def _wrap(self, op: str, handler: Callable[[Call, web.Request], web.Response]) -> Any:
        async def run(request: web.Request) -> web.Response:
            call = await self._record(op, request)
            app = self._app_of(request)
            if app is None:
                return web.json_response({"code": 99991663, "msg": "Invalid access token for authorization."},
                                         status=400)
            failures = self.fail_next.get(op) or []
            if failures:
                code = failures.pop(0)
                status = 429 if code in RATE_LIMIT_CODES else 400
                return web.json_response({"code": code, "msg": f"fake failure {code}"}, status=status)
            call.app = app
            return handler(call, request)

        return run

    @staticmethod
    def _ok(call: Call, data: dict[str, Any]) -> web.Response:
        call.answer = data
        return web.json_response({"code": 0, "msg": "success", "data": data})

    def _bot_info(self, call: Call, request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "msg": "ok", "bot": {
            "activate_status": 2, "app_name": "imbot", "avatar_url": "", "ip_white_list": [],
            "open_id": self.bot_of(call.app)}})

    def _message(self, call: Call, request: web.Request) -> web.Response:
        new_id = f"om_fake_{next(self._ids)}"
        return self._ok(call, {"message_id": new_id, "msg_type": call.body.get("msg_type"),
                         "chat_id": "oc_fake", "create_time": str(int(time.time() * 1000))})

    def _empty(self, call: Call, request: web.Request) -> web.Response:
        return self._ok(call, {})

    def _card(self, call: Call, request: web.Request) -> web.Response:
        return self._ok(call, {"card_id": f"card_{next(self._ids)}"})

    def _upload_image(self, call: Call, request: web.Request) -> web.Response:
        """`im/v1/images`: multipart `image_type=message` and the `image` file."""
        image = call.body.get("image")
        if call.body.get("image_type") not in ("message", "avatar") or not isinstance(image, dict):
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        return self._ok(call, {"image_key": f"img_v3_fake_{next(self._ids)}"})

    def _upload_file(self, call: Call, request: web.Request) -> web.Response:
        """`im/v1/files`: multipart `file_type`, `file_name`, `duration` (ms) and `file`; an
        audio message's file must be opus (Ogg with an OpusHead), as Feishu requires."""
        upload, body = call.body.get("file"), call.body
        if body.get("file_type") not in FILE_TYPES or not isinstance(upload, dict) \
                or not body.get("file_name"):
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        if body["file_type"] == "opus" and not (upload["data"].startswith(b"OggS")
                                                and b"OpusHead" in upload["data"][:200]
                                                and str(body.get("duration", "")).isdigit()):
            return web.json_response({"code": 234001, "msg": "Invalid request param."}, status=400)
        return self._ok(call, {"file_key": f"file_v3_fake_{next(self._ids)}"})

    def uploaded_files(self) -> list[tuple[str, dict[str, Any]]]:
        """(file_key answered, the multipart fields) of each accepted file upload, in order."""
        return [(c.answer["file_key"], c.body) for c in self.ops("upload_file") if c.answer]

    def uploaded_images(self) -> list[tuple[str, dict[str, Any]]]:
        """(image_key answered, uploaded file) of each accepted image upload, in order."""
        return [(c.answer["image_key"], c.body["image"]) for c in self.ops("upload_image") if c.answer]

    def _resource(self, call: Call, request: web.Request) -> web.Response:
        found = self.resources.get((request.match_info["message_id"], request.match_info["file_key"]))
        if found is None:
            return web.json_response({"code": 234003, "msg": "File not in msg."}, status=400)
        data, mime = found
        return web.Response(body=data, content_type=mime,
                            headers={"Content-Disposition": 'attachment; filename="image.png"'})


FILE_TYPES = ("opus", "mp4", "pdf", "doc", "xls", "ppt", "stream")  # im/v1/files' file_type


async def _form(request: web.Request) -> dict[str, Any]:
    """A multipart body: text fields as str, files as {filename, content_type, data}."""
    form = await request.post()
    return {name: value if not isinstance(value, web.FileField) else
            {"filename": value.filename, "content_type": value.content_type, "data": value.file.read()}
            for name, value in form.items()}


def message_event(text: str = "hello", *, chat_type: str = "p2p", sender: str = USER_OPEN_ID,
                  sender_type: str = "user", mentions: list[dict[str, Any]] | None = None,
                  message_type: str = "text", content: dict[str, Any] | None = None,
                  event_id: str = "", message_id: str = "", thread_id: str | None = None,
                  root_id: str | None = None, app_id: str = APP_ID,
                  chat_id: str = "oc_5ce6d572455d361153b7xx51da133945") -> dict[str, Any]:
    """An `im.message.receive_v1` payload (schema 2.0), shaped like Feishu's sample."""
    serial = next(_serials)
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or f"ev_{serial:032d}", "event_type": "im.message.receive_v1",
                   "create_time": "1608725989000", "token": TOKEN, "app_id": app_id,
                   "tenant_key": "2ca1d211f64f6438"},
        "event": {
            "sender": {"sender_id": {"open_id": sender, "union_id": "on_x", "user_id": "e33ggbyz"},
                       "sender_type": sender_type, "tenant_key": "736588c9260f175e"},
            "message": {
                "message_id": message_id or f"om_{serial:032d}", "root_id": root_id, "parent_id": root_id,
                "create_time": "1609073151345", "chat_id": chat_id, "thread_id": thread_id,
                "chat_type": chat_type, "message_type": message_type,
                "content": json.dumps(content if content is not None else {"text": text}),
                "mentions": mentions, "user_agent": None,
            },
        },
    }


_serials = itertools.count(1)


def mention(key: str, open_id: str, name: str) -> dict[str, Any]:
    """One entry of `message.mentions`."""
    return {"key": key, "id": {"open_id": open_id, "union_id": "on_y", "user_id": "u_y"}, "name": name,
            "tenant_key": "736588c9260f175e"}


def encrypted_request(payload: dict[str, Any], key: str = ENCRYPT_KEY, sign_key: str | None = None,
                      timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """What Feishu sends with an Encrypt Key: `{"encrypt":…}` signed with the X-Lark-* headers."""
    body = json.dumps({"encrypt": encrypt(key, json.dumps(payload))}).encode()
    ts, nonce = str(int(time.time()) if timestamp is None else timestamp), "nonce-1"
    headers = {"Content-Type": "application/json", "X-Lark-Request-Timestamp": ts,
               "X-Lark-Request-Nonce": nonce,
               "X-Lark-Signature": signature(ts, nonce, key if sign_key is None else sign_key, body)}
    return body, headers


async def post_event(http: aiohttp.ClientSession, service_url: str, body: bytes,
                     headers: dict[str, str], path: str = "/feishu/events") -> tuple[int, Any]:
    """POST a callback; the status and the JSON answer (None when not JSON)."""
    async with http.post(f"{service_url}{path}", data=body, headers=headers) as response:
        try:
            answer = await response.json(content_type=None)
        except ValueError:
            answer = None
        return response.status, answer


def feishu_env(fake: FakeFeishu, encrypt_key: str = ENCRYPT_KEY) -> dict[str, str]:
    """Environment that turns the adapter on against the fake."""
    return {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_VERIFICATION_TOKEN": TOKEN,
            "FEISHU_ENCRYPT_KEY": encrypt_key, "FEISHU_BASE_URL": fake.url}


async def start_fake() -> FakeFeishu:
    """A running fake on a free loopback port (close with `await fake.server.close()`)."""
    fake = FakeFeishu()
    fake.server = await LoopbackServer(fake.app()).start()
    return fake


async def settle(tasks: TaskOwner, within: float = 5.0) -> None:
    """Wait (bounded) until the service has no background work left."""
    deadline = time.monotonic() + within
    while len(tasks) and time.monotonic() < deadline:
        await asyncio.wait(list(tasks._tasks), timeout=deadline - time.monotonic())
