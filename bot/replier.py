"""A replier that simply keeps what it is given: for whole-answer APIs, the CLI and tests."""

from __future__ import annotations

from collections.abc import Callable

from bot.messages import Reply


def as_is(markdown: str) -> str:
    """The identity formatter: the platform shows markdown."""
    return markdown


class CollectingReplier:
    """Collects deltas and the final reply."""

    def __init__(self, streams: bool = False, formatter: Callable[[str], str] = as_is) -> None:
        self.streams = streams
        self._formatter = formatter
        self.deltas: list[str] = []
        self.replies: list[Reply] = []
        self.started_count = 0
        self.retracted = 0

    def format(self, markdown: str) -> str:
        """Apply the configured formatter."""
        return self._formatter(markdown)

    async def started(self) -> None:
        """Count LLM starts."""
        self.started_count += 1

    async def delta(self, text: str) -> None:
        """Keep a delta."""
        self.deltas.append(text)

    async def retract(self) -> None:
        """Forget the deltas kept so far."""
        self.deltas.clear()
        self.retracted += 1

    async def send(self, reply: Reply) -> None:
        """Keep the reply."""
        self.replies.append(reply)

    @property
    def reply(self) -> Reply | None:
        """The last reply, if any."""
        return self.replies[-1] if self.replies else None
