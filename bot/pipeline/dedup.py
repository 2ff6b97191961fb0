"""Drop a message whose adapter-computed dedup key was already claimed (platform retries)."""

from __future__ import annotations

import logging

from bot.accounts import DEFAULT
from bot.errors import StorageUnavailable
from bot.pipeline.context import Context, Next
from bot.storage import Storage

log = logging.getLogger(__name__)


class Dedup:
    """Claims `incoming.dedup_key` with SET NX; the loser stops here without a reply."""

    def __init__(self, storage: Storage, ttl: float) -> None:
        self._storage = storage
        self._ttl = ttl

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Continue only for the first delivery of a key."""
        key = ctx.incoming.dedup_key
        if key:
            if ctx.incoming.account != DEFAULT:  # two apps' message ids never collide
                key = f"{ctx.incoming.account}/{key}"
            try:
                first = await self._storage.claim(f"dedup:{key}", self._ttl)
            except StorageUnavailable as exc:
                # Answering twice is better than never answering: fail open.
                log.warning("dedup skipped, storage unavailable: %s", exc)
                ctx.degraded, first = True, True
            if not first:
                ctx.outcome = "duplicate"
                return
        await call_next(ctx)
