"""The output check at the one place every answer passes: a replier wrapping the adapter's.

Deltas go through the streaming term filter, so no card update, NDJSON line or web page render
shows a term, even one split across deltas. The final answer is judged whole (term list and
remote providers) before the adapter sees it; when the verdict needs more than the stream
already did (a refusal, or masks only a remote provider knew of), what was shown is retracted.
A status line ("🔧 searching…" while a tool runs) is the bot's own words, not the answer's: it
goes on as it is, and answer text the filter holds back stays held back.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from bot.messages import Reply, Source
from bot.moderation.policy import Moderation, Verdict
from bot.platform import Replier

log = logging.getLogger(__name__)


class ModeratedReplier:
    """Wraps the adapter's replier for one answer; `verdict` and `sent` tell what happened."""

    def __init__(self, inner: Replier, moderation: Moderation, refusal: str,
                 unavailable: str) -> None:
        self._inner = inner
        self._moderation = moderation
        self._refusal = refusal
        self._unavailable = unavailable
        self._filter = moderation.stream_filter()
        self._refusing = moderation.settings.output == "refuse"
        self._stopped = False  # refuse mode saw a term: nothing more is shown
        self._shown = False
        self.streams = inner.streams
        self.verdict: Verdict | None = None
        self.sent: Reply | None = None

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """The adapter's formatter (footnotes for `sources` where the platform cites in the
        text: they are judged with the answer in `send`)."""
        return self._inner.format(markdown, sources)

    async def started(self) -> None:
        """Passed on."""
        await self._inner.started()

    async def delta(self, text: str) -> None:
        """Only what can no longer be part of a term goes on, masked."""
        if self._stopped:
            return
        safe = self._filter.feed(text)
        if self._refusing and self._filter.terms:
            self._stopped = True  # the answer will be refused: stop before the term
            return
        if safe:
            self._shown = True
            await self._inner.delta(safe)

    async def status(self, text: str) -> None:
        """Passed on, past the filter: not answer text, so it neither reaches the stream filter
        (which keeps what it holds back, a possible term split around the tool call) nor the
        text judged at the end, and it does not count as answer text shown."""
        await self._inner.status(text)

    async def retract(self) -> None:
        """Passed on."""
        self._shown = False
        await self._inner.retract()

    async def send(self, reply: Reply) -> None:
        """Judge an answer whole, then deliver it masked, or the refusal in its place."""
        if reply.kind != "answer":  # the bot's own words (errors, notices) are not judged
            await self._deliver(reply)
            return
        tail = self._filter.flush()  # also completes the terms the stream found
        verdict = await self._moderation.check(reply.text, "output")
        self.verdict = verdict
        if verdict.refuse or self._stopped:
            text = self._unavailable if verdict.unavailable else self._refusal
            await self._replace(Reply(text, kind="refused"), verdict)
            return
        final = dataclasses.replace(reply, text=verdict.text)
        if verdict.late_masks or not set(verdict.terms) <= self._filter.terms:
            await self._replace(final, verdict)  # the stream showed what is masked now
            return
        if tail and not self._stopped:
            self._shown = True
            await self._inner.delta(tail)
        await self._deliver(final)

    async def _replace(self, reply: Reply, verdict: Verdict) -> None:
        if self._shown:
            log.info("moderation: a streamed answer was withdrawn and replaced (flagged by %s)",
                     ",".join(verdict.flagged_by) or "a failed provider")
            await self.retract()
        await self._deliver(reply)

    async def _deliver(self, reply: Reply) -> None:
        self.sent = reply
        await self._inner.send(reply)
