"""Input processing: trim, refuse empty input, cap the length politely."""

from __future__ import annotations

import dataclasses

from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver
from bot.texts import Texts


class CleanInput:
    """Normalise the text; empty or over-long messages get a polite answer, not the LLM."""

    def __init__(self, max_chars: int, texts: Texts) -> None:
        self._max_chars = max_chars
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Trim, check, continue."""
        text = ctx.incoming.text.replace("\r\n", "\n").strip()
        if not text and not ctx.incoming.attachments:
            ctx.outcome = "rejected:empty"
            await deliver(ctx, Reply(self._texts.get("empty_input"), kind="notice"))
            return
        if len(text) > self._max_chars:
            ctx.outcome = "rejected:too_long"
            message = self._texts.get("input_too_long", length=len(text), limit=self._max_chars)
            await deliver(ctx, Reply(message, kind="notice"))
            return
        if text != ctx.incoming.text:
            ctx.incoming = dataclasses.replace(ctx.incoming, text=text)
        await call_next(ctx)
