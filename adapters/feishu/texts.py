"""Sentences only this adapter says; each can be overridden under `texts:` in config.yaml."""

from __future__ import annotations

from bot.texts import Texts

DEFAULTS: dict[str, str] = {
    "feishu_thinking": "Thinking…",
    "feishu_unsupported": "Sorry, I can only read text messages here. Please type your question.",
    "feishu_image_unsupported": "Sorry, I cannot look at pictures here. Please describe it in words.",
    "feishu_image_failed": "Sorry, the picture could not be sent. Please try again later.",
    "feishu_audio_failed": "Sorry, I could not fetch that voice message. Please send it again "
    "or type instead.",
    "feishu_answer_below": "The answer is long, so it follows as separate messages.",
}


def say(texts: Texts, key: str) -> str:
    """The operator's text for `key` when set, else this adapter's default."""
    return texts.get(key) if texts.has(key) else DEFAULTS[key]
