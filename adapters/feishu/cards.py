"""The streaming replier: a thinking card at once, the answer typed into it, the full answer last.

Preferred: a CardKit card entity in streaming mode (element content updates). Fallback: an
interactive message card patched in place. Last resort: a plain text reply. Updates are throttled
to `card_updates_per_second`; the final update waits out the interval too, so every gap between
two updates of one card respects the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from adapters.feishu.api import FeishuAPI
from adapters.feishu.errors import FeishuError
from adapters.feishu.parse import FeishuMessage
from adapters.feishu.render import (
    ELEMENT,
    card_reference,
    dumps,
    fits_card,
    message_card,
    post_content,
    sources_markdown,
    split_markdown,
    stream_card,
    text_content,
)
from adapters.feishu.settings import FeishuSettings
from bot.errors import StorageUnavailable, UpstreamError
from bot.media import OPUS, convert
from bot.messages import Audio, Image, Reply, Source
from bot.storage import Storage

log = logging.getLogger(__name__)

CARD_TTL = 24 * 3600.0  # a re-run comes within minutes; Feishu's reply uuid lasts an hour
SEQUENCE_EPOCH = 1_767_225_600  # 2026-01-01: tenths of a second since fit CardKit's int32
TEXT_BYTES = 100_000  # text messages allow 150 KB of content JSON
POST_BYTES = 25_000  # posts allow 30 KB


class CardReplier:
    """One per incoming message; replies in the message's thread when it has one."""

    streams = True

    def __init__(self, api: FeishuAPI, message: FeishuMessage, settings: FeishuSettings,
                 storage: Storage | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._storage = storage
        self._message = message
        self._settings = settings
        self._clock = clock
        self._interval = 1.0 / settings.card_updates_per_second
        self._mode: str | None = None  # "cardkit" | "patch" | None (no card: text at the end)
        self._target = ""  # card_id (cardkit) or the card message's id (patch)
        self._sequence = 0
        self._last_update = float("-inf")
        self._text = ""
        self._status = ""  # a line under the text while a tool runs

    def format(self, markdown: str, sources: Sequence[Source] = ()) -> str:
        """Cards render markdown: nothing to change (sources become a section when sending)."""
        return markdown

    async def _reply(self, msg_type: str, content: str, tag: str) -> str:
        in_thread = bool(self._message.topic)  # answered inside the topic, not in the group
        uuid = f"{self._message.message_id}-{tag}"  # Feishu sends one message per uuid an hour
        return await self._api.reply(self._message.message_id, msg_type, content, in_thread, uuid)

    async def started(self) -> None:
        """Show the thinking card before the model's first token."""
        thinking = self._settings.texts.get("feishu_thinking")
        if self._settings.cardkit:
            if await self._resume_card():
                return
            try:
                self._target = await self._api.create_card(stream_card(thinking))
                await self._reply("interactive", card_reference(self._target), "card")
                self._mode = "cardkit"
                await self._remember_card()
                return
            except FeishuError as exc:
                log.info("feishu: CardKit card unavailable (%s), falling back to a message card", exc.code)
        try:
            self._target = await self._reply("interactive", dumps(message_card(thinking)), "card")
            self._mode = "patch"
        except FeishuError as exc:
            log.warning("feishu: no card could be sent (%s); the answer will be plain text", exc.code)

    def _card_key(self) -> str:
        return f"feishu:card:{self._settings.scoped(self._message.message_id)}"

    async def _remember_card(self) -> None:
        """Keep the card id: a job re-run after a crash must type into the card the user sees."""
        if self._storage is not None:
            with contextlib.suppress(StorageUnavailable):
                await self._storage.set(self._card_key(), self._target, CARD_TTL)

    async def _resume_card(self) -> bool:
        """Re-runs of a job reuse the first run's card (its reply uuid shows only that one)."""
        if self._storage is None:
            return False
        with contextlib.suppress(StorageUnavailable):
            card_id = await self._storage.get(self._card_key())
            if card_id:
                self._target, self._mode = card_id, "cardkit"
                # Sequences must keep increasing on a card: start above anything the first run
                # (counting up from 0, a few hundred updates at most) can have used.
                self._sequence = int((time.time() - SEQUENCE_EPOCH) * 10)
                log.info("feishu: resuming the card of message %s", self._message.message_id)
                return True
        return False

    async def delta(self, text: str) -> None:
        """Accumulate; push to the card when the update interval has passed."""
        self._text += text
        self._status = ""
        if self._mode and self._clock() - self._last_update >= self._interval:
            await self._update(self._text)

    async def status(self, text: str) -> None:
        """Show the line under the text so far (waiting out the update interval: it matters)."""
        self._status = text
        if not self._mode:
            return
        wait = self._interval - (self._clock() - self._last_update)
        if wait > 0:
            await asyncio.sleep(wait)
        shown = self._text.rstrip()
        await self._update(f"{shown}\n\n*{text}*" if shown else f"*{text}*")

    async def retract(self) -> None:
        """Forget the streamed text; the final update shows the replacement. Every update sends
        the whole text, and CardKit shows a text that does not extend the shown one outright,
        without the typewriter effect (cardkit-v1/card-element/content: 流式更新文本)."""
        self._text = ""

    async def _update(self, text: str) -> bool:
        self._last_update = self._clock()
        try:
            if self._mode == "cardkit":
                self._sequence += 1
                await self._api.card_text(self._target, ELEMENT, text, self._sequence)
            else:
                await self._api.patch(self._target, dumps(message_card(text)))
        except FeishuError:
            return False  # logged by the API layer; the final update tries again
        return True

    async def send(self, reply: Reply) -> None:
        """The spoken answer as an audio message, the answer (card, posts or text), then each
        picture as an image message."""
        if reply.audio is not None:
            await self._send_audio(reply.audio)
        await self._finish(reply)
        for index, image in enumerate(reply.images):
            await self._send_picture(index, image)

    async def _finish(self, reply: Reply) -> None:
        """Finish the card with the whole answer (or the error line), or fall back to messages."""
        final = reply.text + sources_markdown(reply.sources)
        if not reply.ok and self._text.strip():
            final = f"{self._text.rstrip()}\n\n---\n{reply.text}"
        if self._mode is None:
            await self._send_text(final)
            return
        fits = fits_card(final, self._settings.max_card_bytes)
        wait = self._interval - (self._clock() - self._last_update)
        if wait > 0:
            await asyncio.sleep(wait)
        below = self._settings.texts.get("feishu_answer_below")
        shown = await self._update(final if fits else below)
        if self._mode == "cardkit":
            await self._end_streaming()
        if not (fits and shown):
            await self._send_posts(final)

    async def _send_picture(self, index: int, image: Image) -> None:
        """Upload a generated picture and reply with it; a failure is said in a text."""
        try:
            if image.data is not None:
                data, mime = image.data, image.mime
            elif image.url:
                data, mime = await self._api.fetch(image.url)
            else:
                raise FeishuError("picture", -1, "neither bytes nor a URL")
            key = await self._api.upload_image(data, mime)
            await self._reply("image", dumps({"image_key": key}), f"image{index}")
        except FeishuError as exc:
            log.warning("feishu: picture %d not sent: %s", index, exc)
            failed = text_content(self._settings.texts.get("feishu_image_failed"))
            with contextlib.suppress(FeishuError):
                await self._reply("text", failed, f"image{index}-failed")

    async def _send_audio(self, audio: Audio) -> None:
        """Feishu plays only opus: convert, upload with the duration, reply with its file_key.
        A failure leaves the answer in text (the card follows either way)."""
        try:
            [clip] = await asyncio.to_thread(convert, audio.data, OPUS)
            key = await self._api.upload_file(clip.data, "opus", "answer.opus",
                                               max(1, round(clip.seconds * 1000)))
            await self._reply("audio", dumps({"file_key": key}), "audio")
        except (FeishuError, UpstreamError) as exc:
            log.warning("feishu: the spoken answer was not sent (%s); text only", exc)

    async def send_notice(self, text: str) -> None:
        """A short text reply outside the pipeline (unsupported message types)."""
        await self._send_text(text)

    async def _end_streaming(self) -> None:
        self._sequence += 1
        # On failure the card still shows the full text; Feishu ends streaming by itself later.
        with contextlib.suppress(FeishuError):
            await self._api.card_settings(self._target, {"config": {"streaming_mode": False}},
                                          self._sequence)

    async def _send_posts(self, markdown: str) -> None:
        for index, piece in enumerate(split_markdown(markdown, POST_BYTES)):
            await self._reply("post", post_content(piece), f"post{index}")

    async def _send_text(self, text: str) -> None:
        for index, piece in enumerate(split_markdown(text, TEXT_BYTES)):
            await self._reply("text", text_content(piece), f"text{index}")
