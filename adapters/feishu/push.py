"""`/api/send` to a Feishu user (`open_id`) or chat (`chat_id`): text, a markdown card, a picture."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from adapters.feishu.api import FeishuAPI
from adapters.feishu.errors import FeishuError, meaning
from adapters.feishu.render import dumps, message_card
from bot.errors import BadRequest
from bot.platform import Push, PushRefused

TEXT_BYTES = 100_000  # text messages allow 150 KB of content JSON; cards far less (render.py)


class FeishuPusher:
    """Sends a push as the app named by `push.account`."""

    def __init__(self, apis: Mapping[str, FeishuAPI]) -> None:
        self._apis = apis

    async def push(self, push: Push) -> str:
        """The text (or card) first, then the picture; the last message's id."""
        api = self._apis.get(push.account)
        if api is None:
            raise BadRequest(f"unknown feishu app {push.account[:40]!r}")
        (id_type, receive_id), = push.to.items()
        if id_type not in ("open_id", "chat_id"):
            raise BadRequest("'to' for feishu must be {\"open_id\": ...} or {\"chat_id\": ...}")
        if len(push.text.encode("utf-8")) > TEXT_BYTES:
            raise BadRequest(f"'text' is over Feishu's {TEXT_BYTES} bytes")
        key = uuid.uuid4().hex  # Feishu sends one message per uuid: a retry inside _call is safe
        sent = ""
        try:
            if push.text:
                kind, content = (("interactive", dumps(message_card(push.text))) if push.card
                                 else ("text", dumps({"text": push.text})))
                sent = await api.send(id_type, receive_id, kind, content, f"{key}-t")
            if push.image is not None and push.image.data is not None:
                image_key = await api.upload_image(push.image.data, push.image.mime)
                sent = await api.send(id_type, receive_id, "image",
                                      dumps({"image_key": image_key}), f"{key}-i")
        except FeishuError as exc:
            raise PushRefused(exc.code, meaning(exc.code)) from None
        return sent
