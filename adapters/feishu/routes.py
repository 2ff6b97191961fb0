"""`POST /feishu/events`: verify first, answer the challenge, ack events at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from adapters.feishu.inbound import Inbound
from adapters.feishu.verify import Keys, open_callback


class Callback:
    """The HTTP callback; processing goes on in the background after the 200."""

    def __init__(self, keys: Keys, inbound: Inbound, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._inbound = inbound
        self._clock = clock

    async def handle(self, request: web.Request) -> web.Response:
        """Bad signature, token or ciphertext raise 4xx errors (answered as JSON by the app)."""
        body = await request.read()
        payload = open_callback(body, request.headers, self._keys, self._clock())
        if payload.get("type") == "url_verification":
            return web.json_response({"challenge": str(payload.get("challenge", ""))})
        if self._inbound.closing:
            # Shutting down: a 503 makes Feishu redeliver, to another instance or after the restart.
            raise web.HTTPServiceUnavailable(reason="shutting down")
        if not await self._inbound.receive(payload):
            # Another instance is taking this very message right now and may still fail to record
            # it: not acknowledged, so Feishu delivers it again (it is a duplicate by then).
            raise web.HTTPServiceUnavailable(reason="message being received elsewhere")
        return web.json_response({"msg": "success"})
