"""The answer to one push: the pipeline run, then (`compose`) an earlier undelivered answer in
front, byte-sized parts, uploaded pictures and voice clips."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.ledger import Handed
from adapters.wechat.parse import Inbound
from adapters.wechat.pictures import Pictures
from adapters.wechat.render import is_media, plain_text, split_bytes
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.voices import Voices
from bot.messages import Attachment, Conversation, Incoming
from bot.platform import Services
from bot.replier import CollectingReplier

log = logging.getLogger(__name__)

PLATFORM = "wechat"


@dataclass(frozen=True, slots=True)
class Answer:
    """The pipeline's reply to one push: text (plain), uploaded picture and voice parts."""

    text: str
    pictures: tuple[str, ...] = ()
    voices: tuple[str, ...] = ()


def compose(answer: Answer | None, handed: Handed, settings: WeChatSettings,
            hint: str) -> tuple[str, ...]:
    """The parts to send: the spoken answer first (it answers a voice message, so it is what the
    passive reply carries), what was handed over (marked as the earlier answer), the text split
    into WeChat-sized parts (room left for the continuation hint), then pictures."""
    if answer is None:  # the pipeline said nothing (a blocked user)
        return ()
    earlier = [str(p) for item in handed for p in item.get("parts", ())]
    earlier_text = "\n\n".join(p for p in earlier if not is_media(p))
    earlier_pictures = [p for p in earlier if is_media(p)]
    text = answer.text
    if earlier_text:
        text = "\n\n".join((settings.texts.get("wechat_earlier_answer"), earlier_text,
                             settings.texts.get("wechat_new_answer"), text))
    elif answer.pictures and not earlier_pictures:
        text = ""  # the picture is the answer; its caption would be a second message
    reserve = len(hint.encode("utf-8")) + 2 if hint else 0
    # text before pictures: the continuation hint on it names the picture that follows (voice
    # goes first: it is the answer to a voice message, and carries no hint itself)
    parts = split_bytes(text.replace("\x00", ""), settings.max_reply_bytes - reserve)
    return (*answer.voices, *parts, *earlier_pictures, *answer.pictures)


class Producer:
    """Runs a push through the pipeline and returns its reply as text and picture parts."""

    def __init__(self, settings: WeChatSettings, services: Services, api: WeChatAPI | None) -> None:
        self._s = settings
        self._services = services
        self._api = api
        self._pictures = Pictures(api, services.http)
        self._voices = Voices(api)

    async def __call__(self, msg: Inbound) -> Answer | None:
        """Never raises for the platform's sake: a failure still becomes text to read."""
        replier = CollectingReplier(formatter=plain_text)
        await self._services.pipeline.handle(await self._incoming(msg), replier)
        reply = replier.reply
        if reply is None:
            return None
        pictures = await self._pictures.parts(reply.images)
        voices = await self._voices.parts(reply.audio)
        text = self._s.texts.get("wechat_image_failed") if reply.images and not pictures else reply.text
        return Answer(text, tuple(pictures), tuple(voices))

    async def _incoming(self, msg: Inbound) -> Incoming:
        attachments: tuple[Attachment, ...] = ()
        if msg.kind == "image":
            attachments = (await self._image(msg),)
        elif msg.kind == "voice" and not msg.text:
            attachments = await self._voice(msg)
        return Incoming(
            platform=PLATFORM,
            conversation=Conversation(PLATFORM, msg.openid, self._s.account),
            user_id=msg.openid,
            text=msg.text,
            message_id=msg.key,
            attachments=attachments,
            account=self._s.account,  # history, limits, keywords and defaults are per account
            # a voice answer can be sent only through the media API (so not without it)
            voice_reply=msg.kind == "voice" and self._api is not None,
        )

    async def _image(self, msg: Inbound) -> Attachment:
        """The picture's bytes through the media API; its PicUrl when that is not possible."""
        if self._api is not None and msg.media_id:
            try:
                data, mime = await self._api.download_media(msg.media_id)
                return Attachment(kind="image", mime=mime or "image/jpeg", data=data)
            except WeChatAPIError as exc:
                log.warning("wechat: media download failed, errcode %s (%s)", exc.code, exc.meaning)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("wechat: media download failed (%s)", type(exc).__name__)
        return Attachment(kind="image", mime="image/jpeg", url=msg.pic_url or None)

    async def _voice(self, msg: Inbound) -> tuple[Attachment, ...]:
        """The recording (AMR from WeChat) for the pipeline to transcribe; none when unavailable."""
        if self._api is None or not msg.media_id:
            return ()
        try:
            data, mime = await self._api.download_media(msg.media_id)
        except WeChatAPIError as exc:
            log.warning("wechat: voice download failed, errcode %s (%s)", exc.code, exc.meaning)
            return ()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("wechat: voice download failed (%s)", type(exc).__name__)
            return ()
        mime = mime if mime.startswith("audio/") else "audio/amr"
        return (Attachment(kind="audio", mime=mime, data=data, name=f"{msg.media_id}.{mime[6:]}"),)
