"""Fixed keyword answers ("营业时间" → the opening hours): the account's text, no LLM, no history."""

from __future__ import annotations

from bot.accounts import Accounts
from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver


class Keywords:
    """Answers a message matching one of its account's keywords, and stops there."""

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """The fixed text when a keyword matches (first in the config's order), else go on."""
        incoming = ctx.incoming
        profile = self._accounts.profile(incoming.platform, incoming.account)
        text = profile.keyword(incoming.text) if profile is not None and incoming.text else None
        if text is None:
            await call_next(ctx)
            return
        ctx.outcome = "keyword"
        await deliver(ctx, Reply(text, kind="command"))
