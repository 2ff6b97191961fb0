"""The per-message state that pipeline steps share, and the step signature."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.citations import Citations
from bot.errors import ErrorKind
from bot.messages import Incoming, Reply
from bot.operator import DEFAULT_ROUTE, Route
from bot.platform import Replier
from bot.prompts import Preset
from bot.storage import Turn
from bot.usage.meter import Meter


@dataclass(slots=True)
class Context:
    """Mutable state of one message travelling through the steps."""

    incoming: Incoming
    replier: Replier
    preset: Preset | None = None
    prefs: dict[str, str] = field(default_factory=dict)
    history: list[Turn] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    heard: str = ""  # the transcript, when the message was a voice message
    reply: Reply | None = None
    delivered: bool = False
    degraded: bool = False
    flagged: bool = False  # moderation masked or refused the answer: it is not kept in history
    outcome: str = "answered"
    failure: ErrorKind | None = None  # why it could not be answered (set by the guard)
    citations: Citations = field(default_factory=Citations)  # passages the model was given
    history_note: str = ""  # kept with the answer in history (tool results, when configured)
    route: Route = DEFAULT_ROUTE  # the first `routes:` entry matching this chat
    meter: Meter = field(default_factory=Meter)  # what the model calls for this message cost


Next = Callable[[Context], Awaitable[None]]


class Step(Protocol):
    """A pipeline step: do something, call `call_next` (or not), maybe do something after."""

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Handle `ctx`."""
        ...


async def deliver(ctx: Context, reply: Reply) -> None:
    """Send the reply exactly once per message."""
    if ctx.delivered:
        return
    ctx.reply = reply
    ctx.delivered = True
    await ctx.replier.send(reply)
