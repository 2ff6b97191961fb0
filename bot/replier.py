"""A replier that simply keeps what it is given: for whole-answer APIs, the CLI and tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.messages import Reply, Source

Formatter = Callable[[str, Sequence[Source]], str]


def as_is(markdown: str, sources: Sequence[Source] = ()) -> str:
    """The identity formatter: the platform shows markdown (and sources apart from the text)."""
    return markdown


class CollectingReplier:
    """Collects deltas and the final reply."""

    def __init__(self, streams: bool = False, formatter: Formatter = as_is) -> None:
        self.streams = streams
        self._formatter = formatter
        self.deltas: list[str] = []
        self.replies: list[Reply] = []
        self.statuses: list[str] = []
        self.started_count = 0
        self.retracted = 0

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """Apply the configured formatter."""
        return self._formatter(markdown, sources)

    async def started(self) -> None:
        """Count LLM starts."""
        self.started_count += 1

    async def delta(self, text: str) -> None:
        """Keep a delta."""
        self.deltas.append(text)

    async def status(self, text: str) -> None:
        """Keep a status line."""
        self.statuses.append(text)

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
