"""A tiny helper to run an aiohttp app on 127.0.0.1 and a free port."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """Runs `app` on 127.0.0.1:0 and knows its URL."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        # Fakes stop at once: a client of the service under test may still hold a connection.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        self.port = 0

    async def start(self) -> LoopbackServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        await self._runner.cleanup()
