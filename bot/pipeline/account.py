"""Usage accounting: every model call below this step adds to the message's meter, and the
meter is added to the day's counters once the message is done (whatever happened)."""

from __future__ import annotations

import logging

from bot.errors import StorageUnavailable
from bot.pipeline.context import Context, Next
from bot.usage import UsageLedger, Who, metering

log = logging.getLogger(__name__)


def who(ctx: Context) -> Who:
    """The message's user, chat and account."""
    incoming = ctx.incoming
    return Who(incoming.platform, incoming.user_id, incoming.chat_key, incoming.account)


class Account:
    """Binds `ctx.meter` for the rest of the pipeline, then records it."""

    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Meter the rest, record it even after a failure (tokens streamed were paid for)."""
        try:
            with metering(ctx.meter):
                await call_next(ctx)
        finally:
            try:
                await self._ledger.record(who(ctx), ctx.meter)
            except StorageUnavailable as exc:
                log.warning("usage not recorded: %s", exc)
