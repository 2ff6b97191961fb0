"""Abuse controls: allow- and block-lists per platform, a per-minute rate and a daily quota."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bot.accounts import scope
from bot.errors import StorageUnavailable
from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.route import limits_for
from bot.settings import LimitSettings
from bot.storage import Storage
from bot.texts import Texts

log = logging.getLogger(__name__)


def blocked_key(platform: str, user: str) -> str:
    """The storage key of a block set from the admin API (shared by every instance)."""
    return f"blocked:{platform}:{user}"


class Limits:
    """Blocked users hear nothing; others over a limit get a polite sentence, not the LLM."""

    def __init__(
        self, settings: LimitSettings, storage: Storage, texts: Texts,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._texts = texts
        self._clock = clock

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Check the lists, then count the message against both windows."""
        platform, user = ctx.incoming.platform, ctx.incoming.user_id
        if user in self._settings.block.get(platform, ()):
            ctx.outcome = "blocked"
            return
        allowed = self._settings.allow.get(platform)
        if allowed and user not in allowed:
            ctx.outcome = "rejected:not_allowed"
            await deliver(ctx, Reply(self._texts.get("not_allowed"), kind="notice"))
            return
        # the admin API's block and the rate counters: concurrent, so one round trip's time
        blocked, refusal = await asyncio.gather(
            self._blocked(platform, user),
            self._over_limit(f"{scope(platform, ctx.incoming.account)}:{user}",
                             limits_for(ctx.route, self._settings)))
        if blocked:
            ctx.outcome = "blocked"
            return
        if refusal:
            ctx.outcome = f"rejected:{refusal}"
            await deliver(ctx, Reply(self._texts.get(refusal), kind="notice"))
            return
        await call_next(ctx)

    async def _blocked(self, platform: str, user: str) -> bool:
        try:
            return await self._storage.get(blocked_key(platform, user)) is not None
        except StorageUnavailable:
            return False  # logged by the limits below, which fail open too

    async def _over_limit(self, who: str, limits: LimitSettings) -> str | None:
        return await over_limit(self._storage, who, limits.per_minute, limits.per_day,
                                self._clock())


async def over_limit(storage: Storage, who: str, per_minute: int, per_day: int,
                     now: float) -> str | None:
    """Count one request of `who`; the text key of the limit it exceeds, if any (fixed windows:
    the minute and the UTC day; 0 disables a limit). Used by the pipeline and by the relay."""
    tag = who.replace("{", "(").replace("}", ")")  # one hash tag: both counters in one MULTI
    counters = []
    if per_minute:
        counters.append(("rate_limited", f"rate:{{{tag}}}:{int(now) // 60}", 60.0, per_minute))
    if per_day:
        counters.append(("quota_exceeded", f"quota:{{{tag}}}:{int(now) // 86400}", 86400.0,
                         per_day))
    if not counters:
        return None
    try:
        counts = await storage.incr_many([(key, ttl) for _, key, ttl, _ in counters])
    except StorageUnavailable as exc:
        log.warning("limits not enforced, storage unavailable: %s", exc)
        return None  # answering is better than refusing everyone while Redis is down
    for (text_key, _, _, limit), count in zip(counters, counts, strict=True):
        if count > limit:
            return text_key
    return None
