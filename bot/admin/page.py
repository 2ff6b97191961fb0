"""`GET /admin`: the operator's page, one HTML file with the vendored uPlot inlined at start-up.

Everything runs under a strict CSP: only the page's own inline scripts and styles (by hash) and
same-origin fetches; no build step, nothing loaded from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.csp import content_security_policy

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
        html = build_page()  # once at start-up, not per request
        self._body = html.encode()
        self._headers = {
            "Content-Security-Policy": content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }

    async def page(self, request: web.Request) -> web.Response:
        """The page."""
        return web.Response(body=self._body, content_type="text/html", charset="utf-8",
                            headers=self._headers)
