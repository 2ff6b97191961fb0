"""Token quotas per user and per chat per UTC day, checked before the model is called."""

from __future__ import annotations

import logging
import re

from bot.errors import StorageUnavailable
from bot.messages import Reply
from bot.pipeline.account import who
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.route import limits_for
from bot.settings import LimitSettings
from bot.texts import Texts
from bot.usage import UsageLedger

log = logging.getLogger(__name__)

_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def language_of(text: str) -> str:
    """`zh` when the text has Chinese (CJK) characters, else `en`: which texts to answer in."""
    return "zh" if _WIDE.search(text) else "en"


class Quota:
    """Refuses politely once today's tokens reach the user's or the chat's quota."""

    def __init__(self, limits: LimitSettings, ledger: UsageLedger, texts: Texts) -> None:
        self._limits = limits
        self._ledger = ledger
        self._texts = texts

    async def _left(self, ctx: Context) -> tuple[int | None, int | None]:
        """Tokens left today for the user and the chat (None = no quota set)."""
        limits = limits_for(ctx.route, self._limits)
        if not (limits.tokens_per_user or limits.tokens_per_chat):
            return None, None
        user, chat = await self._ledger.tokens_today(who(ctx))
        return (max(limits.tokens_per_user - user, 0) if limits.tokens_per_user else None,
                max(limits.tokens_per_chat - chat, 0) if limits.tokens_per_chat else None)

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Continue while both quotas have tokens left."""
        try:
            user_left, chat_left = await self._left(ctx)
        except StorageUnavailable as exc:
            log.warning("token quota not enforced, storage unavailable: %s", exc)
            user_left = chat_left = None
        if user_left == 0 or chat_left == 0:
            key = "token_quota_user" if user_left == 0 else "token_quota_chat"
            ctx.outcome = f"rejected:{key}"
            text = self._texts.get(key, lang=language_of(ctx.incoming.text))
            await deliver(ctx, Reply(text, kind="notice"))
            return
        await call_next(ctx)

    async def footer(self, ctx: Context) -> str:
        """The `/help` footer: tokens left today, when a quota is set."""
        try:
            user_left, chat_left = await self._left(ctx)
        except StorageUnavailable:
            return ""
        lang = language_of(ctx.incoming.text)
        lines = []
        if user_left is not None:
            lines.append(self._texts.get("token_quota_left_user", lang=lang, left=f"{user_left:,}"))
        if chat_left is not None:
            lines.append(self._texts.get("token_quota_left_chat", lang=lang, left=f"{chat_left:,}"))
        return "\n".join(lines)
