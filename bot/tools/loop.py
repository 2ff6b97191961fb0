"""The bounded tool loop of the LLM step: the model asks for tools, we run them and hand back the
results, at most `tools.max_steps` rounds; then one last call with `tool_choice: "none"` makes it
answer with what it has. Tool results stay in this conversation turn (not in history, unless
`tools.keep_results`); reasoning (`<think>`) is stripped from every round, streamed or not."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from bot.feature_settings import ToolSettings
from bot.llm import LLMClient
from bot.pipeline.context import Context
from bot.pipeline.reasoning import ReasoningFilter, strip_reasoning
from bot.texts import Texts
from bot.tools.base import Tool, ToolBox, ToolRun, spec
from bot.tools.wire import ModelTurn
from bot.usage import record_tool_call

ToolFilter = Callable[[Tool, Context], bool]


class ToolLoop:
    """Answers one message with the tools on offer for it."""

    def __init__(self, llm: LLMClient, box: ToolBox, settings: ToolSettings, texts: Texts,
                 offered: ToolFilter = lambda tool, ctx: True) -> None:
        self._llm = llm
        self._box = box
        self._settings = settings
        self._texts = texts
        self._offered = offered

    def tools_for(self, ctx: Context) -> dict[str, Tool]:
        """The tools this message may use (none: answer without the loop)."""
        return self._box.tools(lambda tool: self._offered(tool, ctx))

    async def answer(self, ctx: Context, tools: dict[str, Tool], model: str | None,
                     temperature: float | None) -> str:
        """The visible answer after at most `max_steps` rounds of tool calls."""
        messages: list[dict[str, Any]] = list(ctx.messages)
        if "search_knowledge" in tools and ctx.preset is not None and ctx.preset.knowledge == "strict":
            note = {"role": "system", "content": self._texts.get("kb_tool_strict")}
            messages = [*messages[:-1], note, messages[-1]]
        specs = [spec(tool) for tool in tools.values()]
        shown: list[str] = []
        notes: list[str] = []
        run = ToolRun(ctx.citations)
        for step in range(self._settings.max_steps + 1):
            last = step == self._settings.max_steps
            turn = await self._turn(ctx, messages, specs, model, temperature,
                                    "none" if last else None, shown)
            if not turn.calls or last:
                break
            messages.append(turn.assistant_message())
            for call in turn.calls:
                record_tool_call(call.name)  # each round's tokens are metered by the LLM client
                tool = tools.get(call.name)
                label = tool.status if tool is not None else call.name
                await ctx.replier.status(self._texts.get("tool_status", tool=label))
                result = await self._box.call(call, tools, run)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
                notes.append(f"{call.name}: {result}")
        if self._settings.keep_results and notes:
            ctx.history_note = "Tool results:\n" + "\n".join(notes)
        return "\n\n".join(shown).strip()

    async def _turn(self, ctx: Context, messages: list[dict[str, Any]], specs: list[dict[str, Any]],
                    model: str | None, temperature: float | None, choice: str | None,
                    shown: list[str]) -> ModelTurn:
        """One model call; its visible text is appended to `shown` (and streamed)."""
        if not ctx.replier.streams:
            turn = await self._llm.complete_tools(messages, specs, model=model,
                                                  temperature=temperature, tool_choice=choice)
            visible = strip_reasoning(turn.text)
        else:
            turn, visible = await self._streamed(ctx, messages, specs, model, temperature, choice,
                                                 bool(shown))
        if visible:
            shown.append(visible)
        return dataclasses.replace(turn, text=visible)

    async def _streamed(self, ctx: Context, messages: list[dict[str, Any]],
                        specs: list[dict[str, Any]], model: str | None, temperature: float | None,
                        choice: str | None, after_text: bool) -> tuple[ModelTurn, str]:
        reasoning = ReasoningFilter()
        parts: list[str] = []
        turn = ModelTurn("")
        async for item in self._llm.stream_tools(messages, specs, model=model,
                                                 temperature=temperature, tool_choice=choice):
            if isinstance(item, ModelTurn):
                turn = item
                continue
            await self._show(ctx, parts, reasoning.feed(item), after_text)
        await self._show(ctx, parts, reasoning.flush(), after_text)
        return turn, "".join(parts).strip()

    @staticmethod
    async def _show(ctx: Context, parts: list[str], text: str, after_text: bool) -> None:
        if not text:
            return
        if not parts and after_text:
            text = "\n\n" + text  # a new round's text starts a new paragraph
        parts.append(text)
        await ctx.replier.delta(text)
