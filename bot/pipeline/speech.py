"""Voice answers: `voice_reply` decides, the speech endpoint speaks the final text, and a
failure of speech leaves the answer in text (the log says why)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence

from bot.errors import UpstreamError
from bot.llm import LLMClient
from bot.messages import Audio, Incoming, Reply, Source
from bot.pipeline.context import Context, Next
from bot.platform import Replier
from bot.texts import Texts

log = logging.getLogger(__name__)

_MARKUP = re.compile(r"[*_`#>|~]+")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")


def spoken(text: str, sources: Sequence[Source] = ()) -> str:
    """What to say aloud: the text without code blocks, markup, URLs and source footnotes."""
    cited = tuple(f"[{s.number}] " for s in sources)
    lines = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
            continue
        rule = bool(line.strip()) and set(line.strip()) <= {"—", "-"}
        if in_code or rule or (cited and line.startswith(cited)):
            continue
        lines.append(_MARKUP.sub("", _URL.sub("", _LINK.sub(r"\1", line))).strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def wants_voice(mode: str, incoming: Incoming) -> bool:
    """`always`, or `auto` and the sender spoke (or asked for speech); never with `never`."""
    if mode == "never":
        return False
    spoke = incoming.voice_reply or any(a.kind == "audio" for a in incoming.attachments)
    return mode == "always" or spoke


class SpeakingReplier:
    """Wraps the adapter's replier for one answer: the final answer gets its speech."""

    def __init__(self, inner: Replier, llm: LLMClient, skip: str) -> None:
        self._inner = inner
        self._llm = llm
        self._skip = skip  # the "heard" quote in front of the answer is not read back
        self.streams = inner.streams

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """The adapter's formatter."""
        return self._inner.format(markdown, sources)

    async def started(self) -> None:
        """Passed on."""
        await self._inner.started()

    async def delta(self, text: str) -> None:
        """Passed on."""
        await self._inner.delta(text)

    async def status(self, text: str) -> None:
        """Passed on."""
        await self._inner.status(text)

    async def retract(self) -> None:
        """Passed on."""
        await self._inner.retract()

    async def send(self, reply: Reply) -> None:
        """An answer goes on with its speech; anything else (or when speech fails) as it is."""
        text = reply.text.removeprefix(self._skip) if self._skip else reply.text
        words = spoken(text, reply.sources)
        if reply.kind == "answer" and words:
            try:
                reply = dataclasses.replace(reply, audio=Audio(await self._llm.speak(words)))
            except UpstreamError as exc:
                log.warning("speech failed (%s): %s; answering in text only", exc.kind, exc)
        await self._inner.send(reply)


class Speak:
    """Puts the speaking replier in front of the adapter's when a voice answer is wanted."""

    def __init__(self, llm: LLMClient, mode: str, texts: Texts) -> None:
        self._llm = llm
        self._mode = mode
        self._texts = texts

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Run the rest through the wrapper."""
        if not wants_voice(self._mode, ctx.incoming):
            await call_next(ctx)
            return
        outer = ctx.replier
        heard = self._texts.get("voice_heard", text=ctx.heard) if ctx.heard else ""
        ctx.replier = SpeakingReplier(outer, self._llm, outer.format(heard) if heard else "")
        try:
            await call_next(ctx)
        finally:
            ctx.replier = outer
