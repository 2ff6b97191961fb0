"""The processing path shared by the HTTP callback and the long connection.

`receive` is the quick part (the message's claim, then the job); `process` runs in the background:
who gets an answer, what the model sees, and the pipeline run with a card replier.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

from adapters.feishu.api import FeishuAPI
from adapters.feishu.cards import CardReplier
from adapters.feishu.claim import Claims
from adapters.feishu.errors import FeishuError
from adapters.feishu.parse import FeishuMessage, mentions_bot, parse_message, text_for_model
from adapters.feishu.settings import FeishuSettings
from bot.accounts import DEFAULT
from bot.errors import StorageUnavailable
from bot.messages import Attachment, Conversation, Incoming
from bot.platform import Services

log = logging.getLogger(__name__)

PLATFORM = "feishu"
BOT_INFO_TTL = 24 * 3600.0
JOB = "feishu.message"
MAX_POST_IMAGES = 4  # pictures of one post sent to a vision model
TOPIC_TTL = 30 * 24 * 3600.0  # a topic started with an @mention is followed this long


class Inbound:
    """Turns verified events into pipeline runs."""

    def __init__(self, services: Services, settings: FeishuSettings, api: FeishuAPI) -> None:
        self._services = services
        self._settings = settings
        self._api = api
        self._bot_open_id = ""
        self._claims = Claims(services.storage, scoped=settings.scoped)
        self.job = JOB if settings.account == DEFAULT else f"{JOB}@{settings.account}"
        services.jobs.register(self.job, self._run_job)

    @property
    def closing(self) -> bool:
        """True once the service drains: new events should be left for redelivery."""
        return self._services.tasks.closing

    async def receive(self, payload: dict[str, Any]) -> bool:
        """Claim the message once across redeliveries and instances, then record its job; False
        when another instance is claiming it right now (do not acknowledge: Feishu redelivers).

        The job (a Redis Stream entry) survives this instance dying before it answers; a re-run
        cannot reply twice because replies carry a uuid derived from the message id, and Feishu
        sends at most one message per uuid.
        """
        message = parse_message(payload)
        if message is None or not message.message_id:
            return True
        try:
            outcome, token = await self._claims.take(message.message_id)
        except StorageUnavailable as exc:
            log.warning("feishu: dedup skipped, storage unavailable: %s", exc)
            outcome, token = "mine", ""  # answering twice beats never answering
        if outcome != "mine":
            log.info("feishu: %s message %s", outcome, message.message_id)
            return outcome == "duplicate"
        try:
            await self._services.jobs.enqueue(self.job, payload)
        except StorageUnavailable:
            self._services.tasks.spawn(self.process(message), name=f"feishu:{message.message_id}")
        if token:
            with contextlib.suppress(StorageUnavailable):  # else it lapses: a redelivery retakes it
                await self._claims.confirm(message.message_id, token)
        return True

    async def _run_job(self, payload: dict[str, Any]) -> None:
        message = parse_message(payload)
        if message is not None:
            await self.process(message)

    async def bot_open_id(self) -> str:
        """This bot's open_id: memo, storage, then `/bot/v3/info`; empty when Feishu cannot say."""
        if self._bot_open_id:
            return self._bot_open_id
        key = f"feishu:bot_open_id:{self._settings.app_id}"
        with contextlib.suppress(StorageUnavailable):
            self._bot_open_id = await self._services.storage.get(key) or ""
        if not self._bot_open_id:
            try:
                self._bot_open_id = await self._api.bot_open_id()
            except FeishuError:
                return ""  # logged; group messages wait for the next try
            with contextlib.suppress(StorageUnavailable):
                await self._services.storage.set(key, self._bot_open_id, ttl=BOT_INFO_TTL)
        return self._bot_open_id

    async def process(self, message: FeishuMessage) -> None:
        """Answer the message if it is for us."""
        if message.sender_type != "user":
            return  # bots, this one included, are never answered
        bot_id = await self.bot_open_id()
        if message.sender_id and message.sender_id == bot_id:
            return
        if message.is_group and not await self._for_us(message, bot_id):
            return
        replier = CardReplier(self._api, message, self._settings, self._services.storage)
        attachments = await self._attachments(message)
        if isinstance(attachments, str):
            await replier.send_notice(self._settings.texts.get(attachments))
            return
        await self._services.pipeline.handle(self._incoming(message, bot_id, attachments), replier)

    def _topic_key(self, topic: str) -> str:
        return f"feishu:topic:{{{self._settings.scoped(topic)}}}"

    async def _for_us(self, message: FeishuMessage, bot_id: str) -> bool:
        """A group message is for us when it mentions the bot, or (unless every message in a topic
        must mention it) when it is in a topic someone started by mentioning the bot."""
        if mentions_bot(message, bot_id):
            if not self._settings.thread_needs_mention:
                # this message roots the topic its answer opens, or is inside one already
                with contextlib.suppress(StorageUnavailable):
                    await self._services.storage.set(
                        self._topic_key(message.topic or message.message_id), "1", TOPIC_TTL)
            return True
        if self._settings.thread_needs_mention or not message.topic:
            return False
        for topic in {message.thread_id, message.root_id} - {""}:
            try:
                if await self._services.storage.get(self._topic_key(topic)) is not None:
                    return True
            except StorageUnavailable:
                return False  # cannot tell: staying silent beats answering every message
        return False

    async def _attachments(self, message: FeishuMessage) -> tuple[Attachment, ...] | str:
        """What comes with the text, or the key of the text that says why it cannot be read."""
        kind, vision = message.message_type, self._services.settings.llm.pictures
        if kind == "text":
            return ()
        if kind == "post":  # without vision the post's text (with [image] marks) still goes
            keys = message.image_keys[:MAX_POST_IMAGES] if vision else ()
            found = [await self._download(message, key, "image") for key in keys]
            return tuple(a for a in found if a is not None)
        if kind == "image" and vision:
            image = await self._download(message, message.resource_key, "image")
            return (image,) if image is not None else "feishu_image_unsupported"
        if kind == "audio":
            audio = await self._download(message, message.resource_key, "file")
            return (audio,) if audio is not None else "feishu_audio_failed"
        return "feishu_image_unsupported" if kind == "image" else "feishu_unsupported"

    async def _download(self, message: FeishuMessage, key: str, kind: str) -> Attachment | None:
        """A picture (`image`) or a voice message (`file`: Feishu audio is opus in Ogg)."""
        try:
            data, mime = await self._api.download(message.message_id, key, kind)
        except FeishuError:
            return None  # logged by the API layer
        if kind == "file":  # the core names the upload by MIME: .ogg is what the endpoint takes
            return Attachment(kind="audio", mime="audio/ogg", data=data, name="audio.ogg")
        return Attachment(kind="image", mime=mime, data=data)

    def _incoming(self, message: FeishuMessage, bot_id: str,
                  attachments: tuple[Attachment, ...]) -> Incoming:
        if not message.is_group:
            key = message.sender_id
        elif message.topic and self._settings.thread_history:
            key = f"{message.chat_id}:topic:{message.topic}"  # everyone in the topic, one context
        elif self._settings.group_shared_history:
            key = message.chat_id
        else:
            key = f"{message.chat_id}:{message.sender_id}"
        return Incoming(
            platform=PLATFORM,
            conversation=Conversation(PLATFORM, key, self._settings.account),
            user_id=message.sender_id,
            text=_without_marks(text_for_model(message, bot_id), attachments),
            message_id=message.message_id,
            attachments=attachments,
            chat=message.chat_id,  # routes and per-chat quotas and usage are keyed by it
            account=self._settings.account,
        )


def _without_marks(text: str, attachments: tuple[Attachment, ...]) -> str:
    """A post's `[image]` marks go when the pictures themselves come along (so a post holding
    a picture and `/image make it blue` asks for exactly that)."""
    if not any(a.kind == "image" for a in attachments):
        return text
    return re.sub(r"[ \t]*\[image\][ \t]*\n?", "", text).strip()
