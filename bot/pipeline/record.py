"""The audit trail of conversations: the message in and the reply out, once per message."""

from __future__ import annotations

from typing import Any

from bot.audit import Auditor
from bot.operator import DEFAULT_ROUTE
from bot.pipeline.context import Context, Next


class AuditTrail:
    """Records after the rest of the pipeline, so refusals and failures are recorded too."""

    def __init__(self, auditor: Auditor) -> None:
        self._auditor = auditor

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Continue, then write the entries (nothing at all while the audit is off)."""
        if not self._auditor.enabled:
            await call_next(ctx)
            return
        try:
            await call_next(ctx)
        finally:
            await self._write(ctx)

    async def _write(self, ctx: Context) -> None:
        incoming = ctx.incoming
        about: dict[str, Any] = {
            "platform": incoming.platform, "account": incoming.account,
            "chat": f"{incoming.platform}:{incoming.chat_key}",
            "user": f"{incoming.platform}:{incoming.user_id}",
            "conversation": incoming.conversation.id, "message_id": incoming.message_id,
            "route": ctx.route.name if ctx.route is not DEFAULT_ROUTE else None,
        }
        kind = "command" if ctx.outcome == "command" else "message"
        await self._auditor.record(kind, text=incoming.text, outcome=ctx.outcome, **about)
        reply = ctx.reply
        if reply is None:
            return
        meter = ctx.meter
        await self._auditor.record(
            "answer" if reply.kind == "answer" else "reply", text=reply.text,
            reply_kind=reply.kind, model=meter.primary or None,
            tokens_in=meter.total("in"), tokens_out=meter.total("out"), **about)
