"""A spoken answer uploaded as WeChat temporary voice media: mp3 clips of at most 60 s and
2 MB each (WeChat's limits), so a long answer is split, and a very long one shortened."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.render import voice_part
from bot.errors import UpstreamError
from bot.media import MP3, convert
from bot.messages import Audio

log = logging.getLogger(__name__)

CLIP_SECONDS = 58.0  # under WeChat's 60 s, with room for the encoder's last frame
MAX_CLIPS = 5  # about five minutes spoken; the text carries the rest
MAX_VOICE_BYTES = 2 * 1024 * 1024


class Voices:
    """Turns `Reply.audio` into voice parts; when speech cannot be sent, the text still goes."""

    def __init__(self, api: WeChatAPI | None) -> None:
        self._api = api

    async def parts(self, audio: Audio | None) -> list[str]:
        """One voice part per uploaded clip, in order (empty when any of them fails)."""
        if audio is None:
            return []
        if self._api is None:
            log.warning("wechat: a voice answer cannot be sent without WECHAT_APP_ID/APP_SECRET")
            return []
        try:
            clips = await asyncio.to_thread(convert, audio.data, MP3, CLIP_SECONDS)
            if len(clips) > MAX_CLIPS:
                log.info("wechat: the spoken answer is cut to %d clips of %d", MAX_CLIPS, len(clips))
            parts = []
            for clip in clips[:MAX_CLIPS]:
                if len(clip.data) > MAX_VOICE_BYTES:
                    raise ValueError(f"a clip is {len(clip.data)} bytes, over WeChat's 2 MB")
                parts.append(voice_part(await self._api.upload_voice(clip.data, clip.mime)))
        except WeChatAPIError as exc:
            log.warning("wechat: voice upload failed, errcode %s (%s); answering in text only",
                        exc.code, exc.meaning)
        except UpstreamError as exc:
            log.warning("wechat: the spoken answer could not be converted (%s); text only", exc)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("wechat: voice not sent (%s: %s); text only", type(exc).__name__, exc)
        else:
            return parts
        return []
