"""The pipeline's single catch point: any failure below becomes a friendly reply."""

from __future__ import annotations

import asyncio
import logging

from bot.errors import StorageUnavailable, UpstreamError
from bot.messages import Reply
from bot.metrics import Metrics
from bot.pipeline.context import Context, Next, deliver
from bot.texts import Texts

log = logging.getLogger(__name__)

REFUSALS = frozenset({"llm_content_filter"})  # content-policy refusals of the chat or image endpoint


class Guard:
    """Turns errors into user text (the detail goes to the log, never to the user)."""

    def __init__(self, texts: Texts, metrics: Metrics) -> None:
        self._texts = texts
        self._metrics = metrics

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Run the rest; on failure tell the user in words and record the kind."""
        try:
            await call_next(ctx)
        except asyncio.CancelledError:
            raise
        except UpstreamError as exc:
            log.warning("upstream error (%s): %s", exc.kind, exc)
            if exc.kind in REFUSALS:  # the endpoint declined: an answer, not a failure
                await self._refused(ctx, exc.kind)
            else:
                await self._fail(ctx, exc.kind, f"error_{exc.kind}")
        except StorageUnavailable as exc:
            log.warning("storage unavailable: %s", exc)
            await self._fail(ctx, "storage", "storage_unavailable")
        except Exception:  # the catch point: everything else is a bug, logged in full
            log.exception("pipeline failed for platform=%s", ctx.incoming.platform)
            await self._fail(ctx, "internal", "error_internal")

    async def _refused(self, ctx: Context, kind: str) -> None:
        ctx.outcome = f"refused:{kind}"
        if not ctx.delivered:
            await deliver(ctx, Reply(self._texts.get(f"error_{kind}"), kind="refused"))

    async def _fail(self, ctx: Context, kind: str, text_key: str) -> None:
        ctx.outcome = f"error:{kind}"
        self._metrics.errors.labels(kind).inc()
        if ctx.delivered:
            return  # the failure came after the reply went out (e.g. saving history)
        key = text_key if self._texts.has(text_key) else "error_upstream"
        try:
            await deliver(ctx, Reply(self._texts.get(key), kind="error"))
        except Exception:  # the platform is failing too: nothing left to tell the user with
            log.exception("could not deliver the error reply to platform=%s", ctx.incoming.platform)
