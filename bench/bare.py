"""The two bare aiohttp handlers the service is compared with (issue 7), on `POST /wechat`.

- `verify`: check the WeChat signature, parse the XML, render the passive text reply. No LLM, no
  storage: the floor of any WeChat endpoint written on aiohttp.
- `llm`: the same plus one plain aiohttp call to the (fake) LLM, on one shared ClientSession with
  a connection pool as large as the load. The minimum work a WeChat chatbot must do.
- `safe`: `llm` for safe-mode pushes: the `msg_signature` checked and the message decrypted, and
  the reply encrypted, with wechatpy's `WeChatCrypto` (the adapter's crypto library).

All parse and render with wechatpy, the library the adapter uses, so the ratio measures our
structure (pipeline, storage, deadline), not a choice of XML or crypto library.

Run: `python -m bench.bare --port P --mode verify|llm|safe [--llm URL]` (safe mode reads
WECHAT_ENCODING_AES_KEY and WECHAT_APP_ID).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply

TOKEN = "bench-token"


def _signed(request: web.Request) -> bool:
    q = request.query
    parts = sorted((TOKEN, q.get("timestamp", ""), q.get("nonce", "")))
    expected = hashlib.sha1("".join(parts).encode()).hexdigest()
    return hmac.compare_digest(expected, q.get("signature", ""))


def build(mode: str, llm_url: str) -> web.Application:
    """The app for `mode`."""
    app = web.Application()
    session_key = web.AppKey("session", aiohttp.ClientSession)

    crypto = (WeChatCrypto(TOKEN, os.environ["WECHAT_ENCODING_AES_KEY"], os.environ["WECHAT_APP_ID"])
              if mode == "safe" else None)

    async def handle(request: web.Request) -> web.Response:
        if not _signed(request):
            raise web.HTTPForbidden()
        q = request.query
        text = await request.text()
        if crypto is not None:  # checks msg_signature, then decrypts
            text = crypto.decrypt_message(text, q.get("msg_signature", ""), q.get("timestamp", ""),
                                          q.get("nonce", ""))
        message = parse_message(text)
        answer = "pong"
        if mode in ("llm", "safe"):
            payload = {"model": "gpt-4o-mini",
                       "messages": [{"role": "user", "content": message.content}]}
            async with request.app[session_key].post(
                f"{llm_url}/chat/completions", data=json.dumps(payload),
                headers={"Authorization": "Bearer sk-bench", "Content-Type": "application/json"},
            ) as response:
                answer = (await response.json())["choices"][0]["message"]["content"]
        xml = TextReply(source=message.target, target=message.source, content=answer).render()
        if crypto is not None:
            xml = crypto.encrypt_message(xml, q.get("nonce", ""), q.get("timestamp", ""))
        return web.Response(text=xml, content_type="application/xml")

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[session_key] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app[session_key].close()

    app.cleanup_ctx.append(session)
    app.router.add_post("/wechat", handle)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Readiness probe for the harness."""
    return web.Response(text="ok")


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("verify", "llm", "safe"), required=True)
    parser.add_argument("--llm", default="")
    args = parser.parse_args()
    web.run_app(build(args.mode, args.llm), host="127.0.0.1", port=args.port, access_log=None,
                print=None, backlog=4096, handle_signals=True)


if __name__ == "__main__":
    main()
