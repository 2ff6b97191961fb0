"""`POST /api/send`: a message the service starts, to a WeChat subscriber or a Feishu user or chat.

`{"platform", "account", "to": {"openid" | "open_id" | "chat_id": ...}, "text", "image"?,
"card"?}` → `200 {"sent": true, "id"}`; 4xx for bad input (nothing sent), 502 with the
platform's errcode and meaning when it refuses. Same auth as `/api/chat`; `Idempotency-Key`
makes a retry answer what the first request did instead of sending twice.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from adapters.webhook.idempotency import HEADER, Idempotency, Stored, read_key
from adapters.webhook.settings import WebhookSettings
from bot.errors import BadRequest, NotFound
from bot.messages import Image
from bot.payload import json_object
from bot.pipeline.limits import over_limit
from bot.platform import Push, PushRefused, Services

ADDRESSES = {"wechat": ("openid",), "feishu": ("open_id", "chat_id")}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_TEXT_CHARS = 20_000

Authenticate = Callable[[web.Request, bytes], str]


def _image(value: Any) -> Image | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("b64"), str):
        raise BadRequest("'image' must be {\"mime\": \"image/png\", \"b64\": \"...\"}")
    mime = value.get("mime", "image/png")
    if mime not in IMAGE_TYPES:
        raise BadRequest(f"'image.mime' must be one of {', '.join(IMAGE_TYPES)}")
    try:
        data = base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("'image.b64' is not valid base64") from None
    if not data:
        raise BadRequest("'image.b64' is empty")
    return Image(data=data, mime=mime)


def parse_send(body: dict[str, Any]) -> tuple[str, Push]:
    """The platform and the push; BadRequest naming the first bad field."""
    platform, account, to = body.get("platform"), body.get("account", "default"), body.get("to")
    text, card = body.get("text", ""), body.get("card", False)
    if platform not in ADDRESSES:
        raise BadRequest("'platform' must be \"wechat\" or \"feishu\"")
    if not isinstance(account, str) or not account:
        raise BadRequest("'account' must be a non-empty string")
    allowed = ADDRESSES[platform]
    if (not isinstance(to, dict) or len(to) != 1 or next(iter(to)) not in allowed
            or not isinstance(next(iter(to.values())), str) or not next(iter(to.values()))):
        names = " or ".join(f'{{"{name}": "..."}}' for name in allowed)
        raise BadRequest(f"'to' for {platform} must be {names}")
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"'text' must be a string of at most {MAX_TEXT_CHARS} characters")
    if not isinstance(card, bool):
        raise BadRequest("'card' must be true or false")
    image = _image(body.get("image"))
    if not text.strip() and image is None:
        raise BadRequest("nothing to send: give 'text' or 'image'")
    return platform, Push(account=account, to=dict(to), text=text, image=image, card=card)


class SendEndpoint:
    """Authenticates, validates, rate-limits, then pushes through the platform's adapter."""

    def __init__(self, services: Services, settings: WebhookSettings,
                 authenticate: Authenticate) -> None:
        self._services = services
        self._authenticate = authenticate
        self._per_minute = settings.send_per_minute
        self._per_day = settings.send_per_day
        self._idempotency = Idempotency(services.storage, 30.0)

    async def handle(self, request: web.Request) -> web.Response:
        """One push, at most once per `Idempotency-Key`."""
        raw = await request.read()
        caller = self._authenticate(request, raw)
        platform, push = parse_send(json_object(raw))
        key = read_key(request.headers.get(HEADER))
        if not key:
            answer = await self._send(caller, platform, push)
            return web.json_response(answer.body, status=answer.status)
        async with self._idempotency.claimed(f"send.{caller}", key) as claim:
            if isinstance(claim, Stored):
                replayed = {"Idempotent-Replayed": "true"} if claim.status != 409 else {}
                return web.json_response(claim.body, status=claim.status, headers=replayed)
            answer = await self._send(caller, platform, push)
            if answer.status == 429:  # not sent: a later retry with the same key may go out
                await self._idempotency.abandon(f"send.{caller}", key, claim)
            else:  # sent, or refused by the platform: a retry must not send it (again)
                await self._idempotency.finish(f"send.{caller}", key, claim, answer)
        return web.json_response(answer.body, status=answer.status)

    async def _send(self, caller: str, platform: str, push: Push) -> Stored:
        pusher = self._services.pushers.get(platform)
        if pusher is None:
            raise NotFound(f"{platform} is not configured on this service")
        refusal = await over_limit(self._services.storage, f"send:{caller}", self._per_minute,
                                   self._per_day, time.time())
        if refusal is not None:
            return Stored(429, {"error": {"message": "too many pushes; try again later",
                                          "type": "RateLimited"}})
        try:
            sent = await pusher.push(push)
        except PushRefused as exc:
            await self._audit(platform, push, caller, f"refused:{exc.code}")
            return Stored(502, {"error": {"message": f"{platform} refused the message",
                                          "type": "PlatformRefused", "errcode": exc.code,
                                          "meaning": exc.meaning}})
        await self._audit(platform, push, caller, "sent", sent)
        return Stored(200, {"sent": True, "id": sent})

    async def _audit(self, platform: str, push: Push, caller: str, outcome: str,
                     sent: str = "") -> None:
        """One audit entry (nothing while the audit is off; storage trouble is only logged)."""
        (kind, address), = push.to.items()
        await self._services.auditor.record(
            "push", text=push.text, platform=platform, account=push.account,
            user=f"{platform}:{address}", outcome=outcome, caller=caller, message_id=sent,
            image=bool(push.image), to=kind)
