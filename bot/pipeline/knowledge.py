"""Retrieval (`knowledge.mode: auto`): the passages about this message go into the prompt,
numbered for citing; a strict preset with nothing above the threshold says it does not know."""

from __future__ import annotations

import logging

from bot.errors import StorageUnavailable, UpstreamError
from bot.knowledge.base import KnowledgeBase, numbered
from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver
from bot.texts import Texts

log = logging.getLogger(__name__)


class Retrieve:
    """Searches the knowledge base for every message whose preset uses it."""

    def __init__(self, knowledge: KnowledgeBase, texts: Texts) -> None:
        self._kb = knowledge
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Add the passages as a system message before the new message, then continue."""
        mode = ctx.preset.knowledge if ctx.preset else "on"
        if mode == "off" or not ctx.incoming.text.strip():
            await call_next(ctx)
            return
        try:
            passages = await self._kb.search(ctx.incoming.text)
        except (UpstreamError, StorageUnavailable) as exc:
            if mode == "strict":
                raise  # answering from general knowledge is what a strict preset forbids
            log.warning("answering without the knowledge base: %s", exc)
            ctx.degraded, passages = True, []
        if not passages:
            if mode == "strict":
                ctx.outcome = "no_knowledge"
                await deliver(ctx, Reply(self._texts.get("kb_unknown"), kind="notice"))
                return
            await call_next(ctx)
            return
        intro = self._texts.get("kb_prompt_strict" if mode == "strict" else "kb_prompt")
        note = {"role": "system", "content": f"{intro}\n\n{numbered(ctx.citations, passages)}"}
        ctx.messages = [*ctx.messages[:-1], note, ctx.messages[-1]]
        await call_next(ctx)
