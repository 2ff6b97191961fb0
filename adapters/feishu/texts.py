"""Sentences only this adapter says; each can be overridden under `texts:` in config.yaml."""

from __future__ import annotations

from bot.texts import Texts

DEFAULTS: dict[str, str] = {
    "feishu_thinking": "Thinking…",
    "feishu_unsupported": "Sorry, I can only read text messages here. Please type your question.",
    "feishu_image_unsupported": "Sorry, I cannot look at pictures here. Please describe it in words.",
    "feishu_audio_unsupported": "Sorry, I cannot listen to voice messages yet. Please type instead.",
    "feishu_answer_below": "The answer is long, so it follows as separate messages.",
}


def say(texts: Texts, key: str) -> str:
    """The operator's text for `key` when set, else this adapter's default."""
    return texts.get(key) if texts.has(key) else DEFAULTS[key]
