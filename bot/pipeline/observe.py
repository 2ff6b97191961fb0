"""One structured log line and one metric per handled message."""

from __future__ import annotations

import hashlib
import logging
import time

from bot.metrics import Metrics
from bot.pipeline.context import Context, Next

log = logging.getLogger("bot.messages")


def hashed(conversation_id: str) -> str:
    """A short stable hash: lets operators correlate lines without logging who it was."""
    return hashlib.sha256(conversation_id.encode()).hexdigest()[:12]


class Observe:
    """Outermost step: times the message and records its outcome, whatever happened inside."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Log and count after the rest of the pipeline."""
        started = time.monotonic()
        incoming = ctx.incoming
        if log.isEnabledFor(logging.DEBUG):
            log.debug("message text conv=%s: %r", hashed(incoming.conversation.id), incoming.text)
        try:
            await call_next(ctx)
        finally:
            latency_ms = (time.monotonic() - started) * 1000
            self._metrics.messages.labels(incoming.platform, incoming.account, ctx.outcome).inc()
            log.info(
                "message platform=%s account=%s conv=%s latency_ms=%.0f outcome=%s degraded=%s",
                incoming.platform, incoming.account, hashed(incoming.conversation.id), latency_ms,
                ctx.outcome, ctx.degraded,
            )
