"""Feishu's long-connection server in tests: endpoint discovery, then a WebSocket speaking the
protobuf frames lark-oapi's client speaks (pings answered with pongs, events pushed as data
frames, acks recorded). `silent = True` makes it stop answering while keeping the socket open,
as a half-dead connection behind a NAT does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from tests.fakes.feishu import FakeFeishu
from tests.fakes.server import LoopbackServer

PING_INTERVAL = 1  # seconds, as the discovery's ClientConfig tells the client


def _header(frame: Frame, key: str) -> str:
    return next((h.value for h in frame.headers if h.key == key), "")


def _frame(method: int, payload: bytes = b"", **headers: str) -> bytes:
    frame = Frame()
    frame.method, frame.service, frame.SeqID, frame.LogID = method, 1, 0, 0
    for key, value in headers.items():
        header = frame.headers.add()
        header.key, header.value = key, value
    frame.payload = payload
    return bytes(frame.SerializeToString())


@dataclass
class FakeLongConnection(FakeFeishu):
    """The Open API fake plus the long connection (discovery at the real path)."""

    silent: bool = False
    connections: int = 0  # sockets opened so far
    acks: list[dict[str, Any]] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/ws", self._socket)
        return app

    async def _ws_endpoint(self, request: web.Request) -> web.Response:
        await self._record("ws_endpoint", request)
        assert self.server is not None
        url = self.server.url.replace("http://", "ws://") + "/ws?device_id=dev1&service_id=1"
        return web.json_response({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": {
            "ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0,
            "PingInterval": PING_INTERVAL}}})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.connections += 1
        self._sockets.append(socket)
        async for message in socket:
            if message.type != WSMsgType.BINARY or self.silent:
                continue
            frame = Frame()
            frame.ParseFromString(message.data)
            if frame.method == 0 and _header(frame, "type") == "ping":
                await socket.send_bytes(_frame(0, type="pong"))
            elif frame.method == 1:
                self.acks.append(json.loads(frame.payload))
        return socket

    async def push_event(self, payload: dict[str, Any], socket: int = -1) -> None:
        """An event over a socket (the newest by default), as a data frame."""
        body = json.dumps(payload).encode()
        await self._sockets[socket].send_bytes(_frame(
            1, body, type="event", message_id=payload["header"]["event_id"], trace_id="t",
            sum="1", seq="0"))


async def start_long_connection_fake() -> FakeLongConnection:
    """A running fake on a free loopback port."""
    fake = FakeLongConnection()
    fake.server = await LoopbackServer(fake.app()).start()
    return fake
