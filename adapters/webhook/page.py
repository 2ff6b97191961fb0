"""`GET /`: the web chat page; `GET /api/presets`: the presets it offers (bearer auth)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web

from adapters.webhook.auth import BearerAuth
from bot.prompts import Presets

PAGE = Path(__file__).resolve().parent / "static" / "chat.html"
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def content_security_policy(html: str) -> str:
    """A CSP allowing exactly the page's own inline script and style (by hash) and same-origin fetches."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[tag].append(f"'sha256-{digest}'")
    return "; ".join((
        "default-src 'none'",
        "script-src " + (" ".join(hashes["script"]) or "'none'"),
        "style-src " + (" ".join(hashes["style"]) or "'none'"),
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ))


class WebPage:
    """Serves the single-file chat page and the preset list it shows."""

    def __init__(self, presets: Presets, auth: BearerAuth, page: Path = PAGE) -> None:
        self._presets = presets
        self._auth = auth
        html = page.read_text(encoding="utf-8")  # read once at start-up, not per request
        self._body = html.encode()
        self._headers = {
            "Content-Security-Policy": content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }

    async def page(self, request: web.Request) -> web.Response:
        """The page itself needs no key: it asks the person for one."""
        return web.Response(body=self._body, content_type="text/html", charset="utf-8",
                            headers=self._headers)

    async def presets(self, request: web.Request) -> web.Response:
        """`[{"name", "description", "default"}]`, sorted by name."""
        self._auth.check(request)
        return web.json_response([
            {"name": name, "description": self._presets.get(name).description,
             "default": name == self._presets.default}
            for name in self._presets.names()
        ])
