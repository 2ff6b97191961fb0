"""The service's own pages (the chat page, the admin page): their Content-Security-Policy and
how they are served."""

from __future__ import annotations

import base64
import hashlib
import re

from aiohttp import web

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def content_security_policy(html: str) -> str:
    """Allow exactly the page's inline scripts and styles (by hash) and same-origin fetches."""
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


class OwnPage:
    """One HTML page, built once at start-up (not per request), served under its own CSP."""

    def __init__(self, html: str) -> None:
        self._body = html.encode()
        self._headers = {
            "Content-Security-Policy": content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }

    def response(self) -> web.Response:
        """The page with its security headers."""
        return web.Response(body=self._body, content_type="text/html", charset="utf-8",
                            headers=self._headers)
