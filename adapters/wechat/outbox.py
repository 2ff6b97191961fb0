"""Answers that go out besides the passive reply: late ones, and the rest of long ones.

Only the owner of the record's `late` state (or of its rest's sending) calls these, so each goes
out once: through the customer-service API when the account has it, otherwise (or when the API
refuses) handed over to the subscriber's next message in the same swap that ends the state.
A part is text, or a picture or voice clip already uploaded as temporary media
(`render.image_part`, `render.voice_part`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import aiohttp

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.ledger import Ledger
from adapters.wechat.parse import Inbound
from adapters.wechat.record import Record
from adapters.wechat.render import image_id, is_media, voice_id
from adapters.wechat.settings import WeChatSettings

log = logging.getLogger(__name__)


class Outbox:
    """Customer-service pushes and hand-overs, each ending its record state."""

    def __init__(self, settings: WeChatSettings, ledger: Ledger, api: WeChatAPI | None) -> None:
        self._s = settings
        self._ledger = ledger
        self._api = api if settings.customer_service else None

    @property
    def hint(self) -> str:
        """The continuation line added to a part when more follow and nothing pushes them."""
        return "" if self._api else self._s.texts.get("wechat_more_hint")

    def with_hint(self, part: str, following: str) -> str:
        """`part`, plus the continuation line naming what waits in storage (`following`, the
        next part; "" when none): a picture or a voice answer is announced by name. Media
        parts carry no text, so they get none."""
        if not (following and self.hint) or is_media(part):
            return part
        if image_id(following):
            return f"{part}\n\n{self._s.texts.get('wechat_picture_hint')}"
        if voice_id(following):
            return f"{part}\n\n{self._s.texts.get('wechat_voice_hint')}"
        return f"{part}\n\n{self.hint}"

    async def deliver_late(self, msg: Inbound, rec: Record, token: str) -> None:
        """The answer missed every passive chance (`token` owns its late state)."""
        sent = await self._push(msg.openid, rec.parts)
        if sent == len(rec.parts):
            done = await self._ledger.late_done(msg, token)
        else:
            done = await self._ledger.hand_over(msg, token, rec.parts[sent:], rest=False)
        if not done:
            log.warning("wechat: lost the late delivery's lease before recording it")

    async def send_rest(self, msg: Inbound, rec: Record, token: str) -> None:
        """The parts after the served first one (`token` owns the rest's sending)."""
        rest = rec.parts[1:]
        sent = await self._push(msg.openid, rest)
        if sent == len(rest):
            done = await self._ledger.rest_done(msg, token)
        else:
            done = await self._ledger.hand_over(msg, token, rest[sent:], rest=True)
        if not done:
            log.warning("wechat: lost the rest's lease before recording it")

    async def _push(self, openid: str, parts: Sequence[str]) -> int:
        """Send parts in order through customer service; how many went before the first failure."""
        if self._api is None:
            return 0
        for index, part in enumerate(parts):
            try:
                if media_id := image_id(part):
                    await self._api.send_image(openid, media_id)
                elif media_id := voice_id(part):
                    await self._api.send_voice(openid, media_id)
                else:
                    await self._api.send_text(openid, part)
            except WeChatAPIError as exc:
                log.warning("wechat: customer-service send failed, errcode %s (%s); handing the "
                            "answer over to the next message", exc.code, exc.meaning)
                return index
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("wechat: customer-service send failed (%s); handing the answer over",
                            type(exc).__name__)
                return index
        return len(parts)
