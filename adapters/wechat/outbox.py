"""Answers that are not (or not yet) delivered: kept in storage until WeChat really has them.

- `answer:{key}`: a finished answer's parts, served to any retry of the same MsgId;
- `handover:{openid}`: an answer the subscriber never got, prepended to their next answer;
- `more:{openid}`: the rest of a long answer, served part by part when they reply 继续 / more.

A part is text, or a picture already uploaded as temporary media (`render.image_part`).
"""

from __future__ import annotations

import json
import logging
import uuid

import aiohttp

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.render import image_id
from adapters.wechat.settings import WeChatSettings
from bot.storage import Storage
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)


class Outbox:
    """Stored answers and the three ways they reach a subscriber after the passive reply."""

    def __init__(self, settings: WeChatSettings, storage: Storage, tasks: TaskOwner,
                 api: WeChatAPI | None) -> None:
        self._s = settings
        self._storage = storage
        self._tasks = tasks
        self._api = api if settings.customer_service else None
        # WeChat's retries follow each other as each times out (5 s <= hold): all over by then
        self.window = (settings.attempts + 1) * settings.hold

    @property
    def hint(self) -> str:
        """The continuation line added to a part when more follow and nothing pushes them."""
        return "" if self._api else self._s.texts["more_hint"]

    def with_hint(self, part: str, more: bool) -> str:
        """`part`, plus the continuation line when more parts wait in storage (not on pictures)."""
        return f"{part}\n\n{self.hint}" if more and self.hint and not image_id(part) else part

    async def store_answer(self, key: str, parts: list[str]) -> None:
        """Keep a finished answer for retries and wake every instance waiting for it."""
        ttl = max(self.window, 600.0)
        await self._storage.set_notify(f"wechat:answer:{key}", json.dumps(parts, ensure_ascii=False),
                                       ttl, f"wechat:done:{key}")

    async def answer(self, key: str) -> list[str] | None:
        """The finished answer for a MsgId, if there is one."""
        raw = await self._storage.get(f"wechat:answer:{key}")
        return None if raw is None else list(json.loads(raw))

    async def after_first(self, openid: str, key: str, rest: list[str]) -> None:
        """The first part went out: push the rest (customer service) or queue it for 继续, once."""
        if not rest or not await self._storage.claim(f"wechat:rest:{key}", self.window):
            return
        if self._api:
            self._tasks.spawn(self.push(openid, rest), name="wechat-push-rest")
        else:
            await self._storage.set(f"wechat:more:{openid}", json.dumps(rest, ensure_ascii=False),
                                    self._s.pending_ttl)

    async def next_more(self, openid: str) -> tuple[str, list[str]] | None:
        """Take the next queued part: (text to send, parts still queued after it)."""
        raw = await self._storage.get(f"wechat:more:{openid}")
        queued: list[str] = json.loads(raw) if raw else []
        if not queued:
            return None
        await self.requeue(openid, queued[1:])
        return self.with_hint(queued[0], len(queued) > 1), queued[1:]

    async def requeue(self, openid: str, parts: list[str]) -> None:
        """Replace the continuation queue (an empty list clears it)."""
        key = f"wechat:more:{openid}"
        if parts:
            await self._storage.set(key, json.dumps(parts, ensure_ascii=False), self._s.pending_ttl)
        else:
            await self._storage.delete(key)

    async def deliver_late(self, openid: str, parts: list[str]) -> None:
        """An answer missed every passive chance: customer service when on, else hand it over."""
        if self._api:
            await self.push(openid, parts)
        else:
            await self.hand_over(openid, parts)

    async def push(self, openid: str, parts: list[str]) -> None:
        """Send parts through the customer-service API; what cannot be sent is handed over."""
        assert self._api is not None
        for index, part in enumerate(parts):
            try:
                if media_id := image_id(part):
                    await self._api.send_image(openid, media_id)
                else:
                    await self._api.send_text(openid, part)
            except WeChatAPIError as exc:
                log.warning("wechat: customer-service send failed, errcode %s (%s); handing the "
                            "answer over to the next message", exc.code, exc.meaning)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("wechat: customer-service send failed (%s); handing the answer over",
                            type(exc).__name__)
            else:
                continue
            await self.hand_over(openid, parts[index:])
            return

    async def hand_over(self, openid: str, parts: list[str]) -> None:
        """Keep an undelivered answer (text and pictures) for the subscriber's next message."""
        key = f"wechat:handover:{openid}"
        raw = await self._storage.get(key)
        earlier = json.loads(raw) if raw else {}
        texts = [p for p in (earlier.get("text", ""), *parts) if p and not image_id(p)]
        pictures = [*earlier.get("pictures", []), *(p for p in parts if image_id(p))]
        record = {"id": uuid.uuid4().hex, "text": "\n\n".join(texts), "pictures": pictures}
        await self._storage.set(key, json.dumps(record, ensure_ascii=False), self._s.pending_ttl)

    async def take_handover(self, openid: str) -> tuple[str, list[str]]:
        """The handed-over text and picture parts, taken by exactly one caller; ("", []) if none."""
        key = f"wechat:handover:{openid}"
        raw = await self._storage.get(key)
        if not raw:
            return "", []
        record = json.loads(raw)
        if not await self._storage.claim(f"wechat:handover-taken:{record['id']}", self._s.pending_ttl):
            return "", []
        await self._storage.delete(key)
        return str(record["text"]), [str(p) for p in record.get("pictures", [])]
