"""`im.message.receive_v1` into a flat `FeishuMessage`: content shapes, mentions, post flattening.

Direct-chat payloads carry `null` for `mentions`, `root_id` and friends, so every field is read
as "missing or null" (docs/feishu.md §8).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

RECEIVE = "im.message.receive_v1"


@dataclass(frozen=True, slots=True)
class Mention:
    """One `@` in a message: its placeholder key (`@_user_1`), who it is, the shown name."""

    key: str
    open_id: str
    name: str


@dataclass(frozen=True, slots=True)
class FeishuMessage:
    """The parts of a received message the adapter uses."""

    event_id: str
    message_id: str
    chat_id: str
    chat_type: str
    thread_id: str
    sender_id: str
    sender_type: str
    message_type: str
    text: str
    resource_key: str
    mentions: tuple[Mention, ...]
    image_keys: tuple[str, ...] = ()  # pictures inside a `post`, in order
    root_id: str = ""  # the topic's (thread's) first message, for a message inside one

    @property
    def topic(self) -> str:
        """The topic this message is in (its thread, else its root message); "" outside one."""
        return self.thread_id or self.root_id

    @property
    def is_group(self) -> bool:
        """Anything that is not a direct chat."""
        return self.chat_type != "p2p"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _post_element(element: dict[str, Any]) -> str:
    tag = element.get("tag")
    if tag in {"text", "md"}:
        return _str(element.get("text"))
    if tag == "a":
        text, href = _str(element.get("text")), _str(element.get("href"))
        return f"[{text}]({href})" if href else text
    if tag == "at":
        return _str(element.get("user_id")) or "@" + _str(element.get("user_name"))
    if tag == "code_block":
        return f"\n```{_str(element.get('language')).lower()}\n{_str(element.get('text'))}\n```\n"
    if tag == "emotion":
        return f":{_str(element.get('emoji_type'))}:"
    if tag == "hr":
        return "---"
    return {"img": "[image]", "media": "[video]"}.get(str(tag), "")


def _unwrap(content: dict[str, Any]) -> dict[str, Any]:
    if "content" not in content:  # the send form wraps it per locale: take the first locale
        content = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    return content


def post_images(content: dict[str, Any]) -> tuple[str, ...]:
    """The image_keys of a post's `img` elements."""
    paragraphs = [p for p in _unwrap(content).get("content") or [] if isinstance(p, list)]
    elements = [_obj(e) for paragraph in paragraphs for e in paragraph]
    return tuple(_str(e.get("image_key")) for e in elements
                 if e.get("tag") == "img" and _str(e.get("image_key")))


def flatten_post(content: dict[str, Any]) -> str:
    """Rich text as plain text with markdown-ish links and code; the title on the first line."""
    content = _unwrap(content)
    lines = [_str(content.get("title"))]
    for paragraph in content.get("content") or []:
        if isinstance(paragraph, list):
            lines.append("".join(_post_element(_obj(e)) for e in paragraph))
    return "\n".join(line for line in lines if line.strip()).strip()


def _content(message: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    """(text, resource key, post image keys) of the message content by type."""
    try:
        content = _obj(json.loads(_str(message.get("content")) or "{}"))
    except json.JSONDecodeError:
        content = {}
    kind = message.get("message_type")
    if kind == "text":
        return _str(content.get("text")), "", ()
    if kind == "post":
        return flatten_post(content), "", post_images(content)
    return "", _str(content.get("image_key") if kind == "image" else content.get("file_key")), ()


def parse_message(payload: dict[str, Any]) -> FeishuMessage | None:
    """The message of a schema 2.0 receive event, or None for anything else."""
    header, event = _obj(payload.get("header")), _obj(payload.get("event"))
    if header.get("event_type") != RECEIVE:
        return None
    message, sender = _obj(event.get("message")), _obj(event.get("sender"))
    text, key, images = _content(message)
    mentions = tuple(
        Mention(_str(m.get("key")), _str(_obj(m.get("id")).get("open_id")), _str(m.get("name")))
        for m in (message.get("mentions") or []) if isinstance(m, dict)
    )
    return FeishuMessage(
        event_id=_str(header.get("event_id")),
        message_id=_str(message.get("message_id")),
        chat_id=_str(message.get("chat_id")),
        chat_type=_str(message.get("chat_type")) or "p2p",
        thread_id=_str(message.get("thread_id")),
        sender_id=_str(_obj(sender.get("sender_id")).get("open_id")),
        sender_type=_str(sender.get("sender_type")),
        message_type=_str(message.get("message_type")),
        text=text,
        resource_key=key,
        mentions=mentions,
        image_keys=images,
        root_id=_str(message.get("root_id")),
    )


def mentions_bot(message: FeishuMessage, bot_open_id: str) -> bool:
    """Whether this bot is among the @mentions."""
    return bool(bot_open_id) and any(m.open_id == bot_open_id for m in message.mentions)


def text_for_model(message: FeishuMessage, bot_open_id: str) -> str:
    """The text without the bot's mention; other people's placeholders become `@Name`."""
    text = message.text
    for mention in sorted(message.mentions, key=lambda m: len(m.key), reverse=True):
        if not mention.key:
            continue
        name = "" if mention.open_id == bot_open_id else f"@{mention.name or 'someone'}"
        text = text.replace(mention.key, name)
    return re.sub(r"[ \t]{2,}", " ", text).strip()
