"""`GET /`: the web chat page; `GET /api/presets`: the presets it offers (bearer auth)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from adapters.webhook.auth import BearerAuth
from bot.csp import OwnPage
from bot.prompts import Presets

PAGE = Path(__file__).resolve().parent / "static" / "chat.html"


class WebPage:
    """Serves the single-file chat page and the preset list it shows."""

    def __init__(self, presets: Presets, auth: BearerAuth, page: Path = PAGE) -> None:
        self._presets = presets
        self._auth = auth
        self._page = OwnPage(page.read_text(encoding="utf-8"))

    async def page(self, request: web.Request) -> web.Response:
        """The page itself needs no key: it asks the person for one."""
        return self._page.response()

    async def presets(self, request: web.Request) -> web.Response:
        """`[{"name", "description", "default"}]`, sorted by name."""
        self._auth.check(request)
        return web.json_response([
            {"name": name, "description": self._presets.get(name).description,
             "default": name == self._presets.default}
            for name in self._presets.names()
        ])
