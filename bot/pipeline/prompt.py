"""Prompt building: the conversation's preset, its history within budget, the new message."""

from __future__ import annotations

import base64
import logging
from typing import Any

from bot.errors import StorageUnavailable
from bot.messages import Incoming
from bot.pipeline.context import Context, Next
from bot.prompts import Presets, template_values
from bot.settings import HistorySettings
from bot.storage import Storage, Turn

log = logging.getLogger(__name__)


def within_budget(history: list[Turn], max_turns: int, max_chars: int) -> list[Turn]:
    """The newest turns that fit both budgets, oldest first; never starts with an assistant turn."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history[-2 * max_turns:] if max_turns > 0 else []):
        used += len(turn["content"])
        if used > max_chars:
            break
        kept.append(turn)
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)  # an answer without its question misleads the model
    return kept


def user_content(incoming: Incoming, vision: bool) -> str | list[dict[str, Any]]:
    """The new message: plain text, or text plus images as data URLs for a vision model."""
    images = [a for a in incoming.attachments if a.kind == "image" and (a.data or a.url)]
    if not (vision and images):
        return incoming.text
    parts: list[dict[str, Any]] = [{"type": "text", "text": incoming.text or "What is in this picture?"}]
    for image in images:
        url = image.url or f"data:{image.mime};base64,{base64.b64encode(image.data or b'').decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


class BuildPrompt:
    """Loads the preset and history (without history when storage is down) into `ctx.messages`."""

    def __init__(
        self, storage: Storage, presets: Presets, history: HistorySettings, vision: bool
    ) -> None:
        self._storage = storage
        self._presets = presets
        self._history = history
        self._vision = vision

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Fill the prompt, then continue."""
        incoming = ctx.incoming
        conversation = incoming.conversation.id
        try:
            ctx.prefs, history = await self._storage.conversation(conversation)
        except StorageUnavailable as exc:
            log.warning("answering without history: %s", exc)
            ctx.degraded, history = True, []
        # the user's /prompt choice, else the route's preset, else the default
        ctx.preset = self._presets.get(ctx.prefs.get("preset") or ctx.route.preset)
        ctx.history = within_budget(history, self._history.max_turns, self._history.max_chars)
        system = ctx.preset.render(template_values(incoming.platform, incoming.user_name))
        ctx.messages = [
            {"role": "system", "content": system},
            *({"role": t["role"], "content": t["content"]} for t in ctx.history),
            {"role": "user", "content": user_content(incoming, self._vision)},
        ]
        await call_next(ctx)


class SaveHistory:
    """After the answer went out, append the user and assistant turns (never after a failure)."""

    def __init__(self, storage: Storage, history: HistorySettings) -> None:
        self._storage = storage
        self._history = history

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Continue, then save on success."""
        await call_next(ctx)
        if ctx.flagged or not (ctx.delivered and ctx.reply is not None and ctx.reply.kind == "answer"):
            return
        turns: list[Turn] = [
            {"role": "user", "content": ctx.incoming.text},
            {"role": "assistant", "content": f"{ctx.history_note}\n\n{ctx.answer}"
             if ctx.history_note else ctx.answer},
        ]
        try:
            await self._storage.append_history(
                ctx.incoming.conversation.id, turns,
                max_items=2 * self._history.max_turns, ttl=self._history.ttl_seconds,
            )
        except StorageUnavailable as exc:
            ctx.degraded = True
            log.warning("history not saved: %s", exc)
