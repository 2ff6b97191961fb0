"""Official Account events: the follow greeting, QR scenes, custom-menu CLICK and VIEW.

Each is decided from the account's settings alone: a text (answered at once, the same again on
WeChat's retry), a command to run as if the subscriber had typed it, or nothing (`success`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from adapters.wechat.parse import Inbound
from adapters.wechat.settings import WeChatSettings

SCENE_PREFIX = "qrscene_"  # a subscribe through a QR code carries `qrscene_<scene>`


@dataclass(frozen=True, slots=True)
class EventAnswer:
    """`text` to send back (None: no answer), or `typed`: the message to run instead."""

    text: str | None = None
    typed: Inbound | None = None


def scene(settings: WeChatSettings, key: str) -> str | None:
    """The text mapped to a QR scene key (with or without WeChat's `qrscene_` prefix)."""
    return settings.scenes.get(key.removeprefix(SCENE_PREFIX))


def answer_event(settings: WeChatSettings, msg: Inbound) -> EventAnswer:
    """What this event gets. Unknown events and VIEW (the link opens; WeChat shows nothing we
    send) get no answer."""
    if msg.event in ("subscribe", "subscribe_scan"):
        return EventAnswer(scene(settings, msg.event_key) or settings.texts.get("wechat_welcome"))
    if msg.event == "scan":
        return EventAnswer(scene(settings, msg.event_key))
    if msg.event == "click":
        action = settings.menu.get(msg.event_key)
        if action is not None and action.startswith("/"):
            # the button's command runs as the subscriber's own message would (same record key)
            return EventAnswer(typed=dataclasses.replace(msg, kind="text", event="", text=action))
        return EventAnswer(action)
    return EventAnswer()
