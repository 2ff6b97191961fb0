"""The LLM call (streamed to repliers that show it) and the platform-formatted final reply."""

from __future__ import annotations

from bot.errors import UpstreamError
from bot.llm import LLMClient
from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.reasoning import ReasoningFilter, strip_reasoning


class CallLLM:
    """Asks the model; reasoning text is dropped on the way, whether streamed or whole."""

    def __init__(self, llm: LLMClient) -> None:
        self._llm = llm

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Fill `ctx.answer`, then continue to the reply."""
        await ctx.replier.started()
        model = ctx.preset.model if ctx.preset else None
        temperature = ctx.preset.temperature if ctx.preset else None
        if ctx.replier.streams:
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
            raise UpstreamError("the model returned no visible text", kind="llm_empty")
        ctx.answer = answer
        await call_next(ctx)


class Respond:
    """Last step: the platform's formatter hook, then delivery through the replier."""

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Format and send the answer."""
        await deliver(ctx, Reply(ctx.replier.format(ctx.answer)))
        await call_next(ctx)
