"""Content safety in the pipeline: a step refusing flagged input, and one guarding the answer."""

from __future__ import annotations

import logging

from bot.messages import Reply
from bot.moderation import ModeratedReplier, Moderation
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.observe import hashed
from bot.texts import Texts

log = logging.getLogger(__name__)


class ModerateInput:
    """A flagged message is answered with the refusal text: no LLM call, no history."""

    def __init__(self, moderation: Moderation, texts: Texts) -> None:
        self._moderation = moderation
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Judge the text; refuse or continue."""
        if not (self._moderation.input_on and ctx.incoming.text):
            await call_next(ctx)
            return
        verdict = await self._moderation.check(ctx.incoming.text, "input")
        if not verdict.refuse:
            await call_next(ctx)
            return
        ctx.outcome = "moderated:input"
        log.info("moderation: input refused conv=%s flagged_by=%s failed=%s terms=%d",
                 hashed(ctx.incoming.conversation.id), ",".join(verdict.flagged_by) or "-",
                 ",".join(verdict.failed) or "-", len(verdict.terms))
        key = "moderation_unavailable" if verdict.unavailable else "moderation_input"
        await deliver(ctx, Reply(self._texts.get(key), kind="refused"))


class ModerateOutput:
    """Puts the moderating replier in front of the adapter's for the LLM call and the reply."""

    def __init__(self, moderation: Moderation, texts: Texts) -> None:
        self._moderation = moderation
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Run the rest through the wrapper; record what was actually sent."""
        if not self._moderation.output_on:
            await call_next(ctx)
            return
        outer = ctx.replier
        guarded = ModeratedReplier(outer, self._moderation, self._texts.get("moderation_output"),
                                   self._texts.get("moderation_unavailable"))
        ctx.replier = guarded
        try:
            await call_next(ctx)
        finally:
            ctx.replier = outer
        if guarded.sent is not None:
            ctx.reply = guarded.sent
        verdict = guarded.verdict
        if verdict is None or not verdict.flagged:
            return
        ctx.flagged = True  # neither the question nor the answer enters history
        refused = guarded.sent is not None and guarded.sent.kind == "refused"
        ctx.outcome = "moderated:output_refused" if refused else "moderated:output_masked"
        log.info("moderation: answer %s conv=%s flagged_by=%s failed=%s terms=%d",
                 "refused" if refused else "masked", hashed(ctx.incoming.conversation.id),
                 ",".join(verdict.flagged_by) or "-", ",".join(verdict.failed) or "-",
                 len(verdict.terms))
