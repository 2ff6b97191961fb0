"""`GET /admin`: the operator's page, one HTML file with the vendored uPlot inlined at start-up.

Everything runs under a strict CSP: only the page's own inline scripts and styles (by hash) and
same-origin fetches; no build step, nothing loaded from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.csp import OwnPage

STATIC = Path(__file__).resolve().parent / "static"


def build_page(static: Path = STATIC) -> str:
    """admin.html with the chart library's script and stylesheet in place of their markers."""
    html = (static / "admin.html").read_text(encoding="utf-8")
    css = (static / "uPlot.min.css").read_text(encoding="utf-8")
    js = (static / "uPlot.iife.min.js").read_text(encoding="utf-8")
    return (html.replace("<!-- uPlot.min.css -->", f"<style>{css}</style>")
                .replace("<!-- uPlot.iife.min.js -->", f"<script>{js}</script>"))


class AdminPage:
    """Serves the page; it holds no data and asks for an admin key, so it needs none itself."""

    def __init__(self) -> None:
        self._page = OwnPage(build_page())

    async def page(self, request: web.Request) -> web.Response:
        """The page."""
        return self._page.response()
