"""Sentences only this adapter says, registered with the core's `Texts` by the factory.

The operator overrides them under the root `texts:` (`wechat_welcome`), `wechat.texts:` and an
account's `texts:` (`welcome`; `wechat.welcome` is the older spelling of `wechat.texts.welcome`).
"""

from __future__ import annotations

from bot.texts import Texts

PLATFORM = "wechat"

DEFAULTS: dict[str, str] = {
    "wechat_welcome": "Welcome! Send me a message and I will answer. 欢迎关注，直接发消息即可提问。",
    "wechat_thinking_push": "Still thinking… I will send the answer as soon as it is ready. "
    "正在思考，答案稍后自动发送。",
    "wechat_thinking_handover": "Still thinking… Send me any message in a moment to get the "
    "answer. 正在思考，稍后发送任意消息即可收到答案。",
    "wechat_earlier_answer": "【Answer to your earlier message 上一条消息的回答】",
    "wechat_new_answer": "【Your new message 本条消息的回答】",
    "wechat_more_hint": "(Reply 继续 or more for the rest 回复“继续”查看后续)",
    "wechat_picture_hint": "(Your picture is ready: reply 继续 to get it 图片已生成，回复“继续”查看)",
    "wechat_voice_hint": "(The spoken answer is ready: reply 继续 to hear it "
    "语音回答已生成，回复“继续”收听)",
    "wechat_unavailable": "Sorry, I am overloaded right now; please send that again in a minute. "
    "系统繁忙，请稍后重新发送。",
    "wechat_unsupported": "Sorry, I can only read text messages here. 暂时只支持文字消息。",
    "wechat_voice_unsupported": "Sorry, I cannot listen to voice messages yet; please type "
    "instead. 暂时无法识别语音，请发送文字。",
    "wechat_image_failed": "Sorry, I could not send the picture here; please try again later. "
    "图片发送失败，请稍后再试。",
    "wechat_image_unsupported": "Sorry, I cannot look at pictures here; please describe it in "
    "words. 暂时无法识别图片，请用文字描述。",
}


def registered(texts: Texts | None = None) -> Texts:
    """`texts` (default: the core's defaults alone) with this adapter's registered."""
    texts = Texts() if texts is None else texts
    texts.register(PLATFORM, DEFAULTS)
    return texts
