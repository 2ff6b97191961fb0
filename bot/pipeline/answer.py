"""The LLM call (streamed to repliers that show it) and the platform-formatted final reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import ErrorKind, UpstreamError
from bot.llm import LLMClient
from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.reasoning import ReasoningFilter, strip_reasoning
from bot.pipeline.route import choose_model
from bot.texts import Texts

if TYPE_CHECKING:
    from bot.tools.loop import ToolLoop


class CallLLM:
    """Asks the model; reasoning text is dropped on the way, whether streamed or whole."""

    def __init__(self, llm: LLMClient, models: tuple[str, ...], tools: ToolLoop | None = None) -> None:
        self._llm = llm
        self._models = models  # a user's /model choice counts only while the operator allows it
        self._tools = tools

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Fill `ctx.answer`, then continue to the reply."""
        await ctx.replier.started()
        model = choose_model(ctx, self._models)  # the user's, the route's or the preset's
        temperature = ctx.preset.temperature if ctx.preset else None
        tools = self._tools.tools_for(ctx) if self._tools is not None else {}
        if tools and self._tools is not None:
            answer = await self._tools.answer(ctx, tools, model, temperature)
        elif ctx.replier.streams:
            visible = ReasoningFilter()
            parts: list[str] = []
            async for delta in self._llm.stream(ctx.messages, model=model, temperature=temperature):
                if text := visible.feed(delta):
                    parts.append(text)
                    await ctx.replier.delta(text)
            if tail := visible.flush():
                parts.append(tail)
                await ctx.replier.delta(tail)
            answer = "".join(parts).strip()
        else:
            completion = await self._llm.complete(ctx.messages, model=model, temperature=temperature)
            answer = strip_reasoning(completion.text)
        if not answer:
            raise UpstreamError("the model returned no visible text", kind=ErrorKind.LLM_EMPTY)
        ctx.answer = answer
        await call_next(ctx)


class Respond:
    """Last step: the platform's formatter hook, then delivery through the replier."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Format and send the answer (quoting what was heard, for voice messages)."""
        text = ctx.answer
        if ctx.heard:
            text = f"{self._texts.get('voice_heard', text=ctx.heard)}\n\n{text}"
        sources = ctx.citations.sources(ctx.answer) if ctx.citations else ()
        await deliver(ctx, Reply(ctx.replier.format(text, sources), sources=sources))
        await call_next(ctx)
