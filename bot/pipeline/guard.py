"""The pipeline's single catch point: any failure below becomes a friendly reply."""

from __future__ import annotations

import asyncio
import logging

from bot.errors import ErrorKind, StorageUnavailable, UpstreamError
from bot.messages import Reply
from bot.metrics import Metrics
from bot.pipeline.context import Context, Next, deliver
from bot.texts import Texts

log = logging.getLogger(__name__)


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
            if exc.kind.refusal:  # the endpoint declined: an answer, not a failure
                await self._refused(ctx, exc.kind)
            else:
                await self._fail(ctx, exc.kind)
        except StorageUnavailable as exc:
            log.warning("storage unavailable: %s", exc)
            await self._fail(ctx, ErrorKind.STORAGE)
        except Exception:  # the catch point: everything else is a bug, logged in full
            log.exception("pipeline failed for platform=%s", ctx.incoming.platform)
            await self._fail(ctx, ErrorKind.INTERNAL)

    async def _refused(self, ctx: Context, kind: ErrorKind) -> None:
        ctx.outcome, ctx.failure = f"refused:{kind}", kind
        if not ctx.delivered:
            await deliver(ctx, Reply(self._texts.get(kind.text_key), kind="refused"))

    async def _fail(self, ctx: Context, kind: ErrorKind) -> None:
        ctx.outcome, ctx.failure = f"error:{kind}", kind
        self._metrics.errors.labels(kind.value).inc()
        if ctx.delivered:
            return  # the failure came after the reply went out (e.g. saving history)
        try:
            await deliver(ctx, Reply(self._texts.get(kind.text_key), kind="error"))
        except Exception:  # the platform is failing too: nothing left to tell the user with
            log.exception("could not deliver the error reply to platform=%s", ctx.incoming.platform)
