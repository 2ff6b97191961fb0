"""Voice becomes text before anything reads the text; pictures need a vision model."""

from __future__ import annotations

import dataclasses

from bot.llm import LLMClient
from bot.media import transcribable
from bot.messages import Reply
from bot.pipeline.context import Context, Next, deliver
from bot.pipeline.pictures import PictureMemory
from bot.texts import Texts


class Media:
    """Transcribes an audio attachment into the message text; keeps a picture for `/image`
    edits; refuses images without vision."""

    def __init__(self, llm: LLMClient, texts: Texts, vision: bool, memory: PictureMemory) -> None:
        self._llm = llm
        self._texts = texts
        self._vision = vision
        self._memory = memory

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Normalise media into what the rest of the pipeline understands."""
        incoming = ctx.incoming
        audio = next((a for a in incoming.attachments if a.kind == "audio" and a.data), None)
        if audio is not None and audio.data and not incoming.text.strip():
            data, name, mime = await transcribable(audio.data, audio.mime, audio.name)
            heard = await self._llm.transcribe(data, name, mime)
            if not heard:
                ctx.outcome = "rejected:inaudible"
                await deliver(ctx, Reply(self._texts.get("voice_empty"), kind="notice"))
                return
            ctx.heard = heard
            ctx.incoming = dataclasses.replace(incoming, text=heard)
        pictures = [a for a in incoming.attachments if a.kind == "image" and a.data]
        if pictures:
            await self._memory.keep(incoming.conversation.id, pictures[-1])
        if any(a.kind == "image" for a in incoming.attachments) and not self._vision:
            ctx.outcome = "rejected:image"
            await deliver(ctx, Reply(self._texts.get("image_unsupported"), kind="notice"))
            return
        await call_next(ctx)
