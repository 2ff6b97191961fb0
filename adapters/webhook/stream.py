"""The NDJSON stream of `/api/chat`: one `{"done", "error", "content"}` object a line."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.messages import Reply, Source
from bot.replier import as_is

MAX_PENDING = 64  # lines queued before a delta waits for the write (a slow client holds us back)


def sources_json(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """The `sources` field of an answer: what each `[n]` in the reply points at."""
    return [{"n": s.number, "document": s.document, "section": s.section, "url": s.url}
            for s in sources]


class NDJSONReplier:
    """Writes each delta as a line, then an error line if the reply failed, then the done line.

    A spoken answer (`"voice_reply": true`) has `"audio": {"mime", "b64"}` on its done line.
    Moderation adds two optional keys: `"retract": true` on a line with empty content (drop
    everything shown so far) and `"refused": true` on a content-policy refusal; an answer that
    cites the knowledge base has `"sources"` on its done line.
    """

    streams = True

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        self._sent_text = False
        self._gone = False
        self._pending: list[bytes] = []
        self._writer: asyncio.Task[None] | None = None

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """The API returns markdown as is; sources ride on the done line."""
        return as_is(markdown)

    async def started(self) -> None:
        """Nothing to show before the first token."""

    async def status(self, text: str) -> None:
        """Not part of the stream's contract (every line's content is answer text)."""

    async def _line(self, done: bool, error: bool, content: str, **extra: Any) -> None:
        """Queue a line; the lines of one loop turn go out as one write (a write per line was
        ~12% of a streamed answer's CPU: docs/benchmarks.md). The done line waits for it."""
        if self._gone:
            return
        line = json.dumps({"done": done, "error": error, "content": content, **extra},
                          ensure_ascii=False)
        self._pending.append(line.encode() + b"\n")
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        if done or len(self._pending) >= MAX_PENDING:
            await self.flushed()

    async def _write(self) -> None:
        try:
            while self._pending and not self._gone:
                data, self._pending = b"".join(self._pending), []
                try:
                    await self._response.write(data)
                except (ConnectionError, RuntimeError):
                    # The client went away: keep going quietly so the answer still reaches history.
                    self._gone = True
        finally:
            self._writer = None

    async def flushed(self) -> None:
        """Wait until every queued line was written (or the client was found gone)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def delta(self, text: str) -> None:
        """One content line."""
        self._sent_text = True
        await self._line(False, False, text)

    async def retract(self) -> None:
        """`{"retract": true}`: the client drops what it showed; the replacement follows."""
        self._sent_text = False
        await self._line(False, False, "", retract=True)

    async def send(self, reply: Reply) -> None:
        """The closing lines."""
        if not reply.ok:
            await self._line(False, True, reply.text)
        elif reply.kind == "refused":
            await self._line(False, False, reply.text, refused=True)
        elif not self._sent_text:  # commands and notices arrive whole
            await self._line(False, False, reply.text)
        for image in reply.images:  # as markdown, so a chat page can show it inline
            url = image.url or f"data:{image.mime};base64,{base64.b64encode(image.data or b'').decode()}"
            await self._line(False, False, f"\n\n![image]({url})")
        extra: dict[str, Any] = {"sources": sources_json(reply.sources)} if reply.sources else {}
        if reply.audio is not None:  # the spoken answer rides on the done line
            extra["audio"] = {"mime": reply.audio.mime,
                              "b64": base64.b64encode(reply.audio.data).decode()}
        await self._line(True, False, "[DONE]", **extra)
