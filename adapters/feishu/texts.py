"""Sentences only this adapter says, registered with the core's `Texts` by the factory.

The operator overrides them under the root `texts:` (`feishu_thinking`), `feishu.texts:` and an
app's `texts:` (`thinking`).
"""

from __future__ import annotations

from bot.texts import Texts

PLATFORM = "feishu"

DEFAULTS: dict[str, str] = {
    "feishu_thinking": "Thinking…",
    "feishu_unsupported": "Sorry, I can only read text messages here. Please type your question.",
    "feishu_image_unsupported": "Sorry, I cannot look at pictures here. Please describe it in words.",
    "feishu_image_failed": "Sorry, the picture could not be sent. Please try again later.",
    "feishu_audio_failed": "Sorry, I could not fetch that voice message. Please send it again "
    "or type instead.",
    "feishu_answer_below": "The answer is long, so it follows as separate messages.",
}


def registered(texts: Texts | None = None) -> Texts:
    """`texts` (default: the core's defaults alone) with this adapter's registered."""
    texts = Texts() if texts is None else texts
    texts.register(PLATFORM, DEFAULTS)
    return texts
