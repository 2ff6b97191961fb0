"""Every sentence the bot says on its own behalf, and the one way to say it: `Texts.get`.

Defaults live in code: the core's here, each adapter's own in its `texts.py` (keys prefixed with
the platform, e.g. `wechat_welcome`), registered by its factory. The operator overrides them in
config.yaml under the root `texts:` (any text), a platform section's `texts:` and an account's
(that platform's texts, written without the prefix); the most specific wins. Every override is
checked at start-up: an unknown key, a placeholder its default does not fill, or a template that
does not parse is a ConfigError naming the key.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from bot.config import Section
from bot.errors import ConfigError

DEFAULTS: dict[str, str] = {
    "help": (
        "Commands:\n"
        "/help (帮助) — this list\n"
        "/reset (清除记忆) — forget this conversation\n"
        "/prompt (角色) — list presets; /prompt NAME switches to one\n"
        "/model (模型) — list models; /model NAME switches to one\n"
        "/image (画图) DESCRIPTION — draw a picture (right after you sent one: change it)\n"
        "Anything else is sent to the assistant."
    ),
    "voice_heard": "🎤 “{text}”",
    "voice_empty": "I could not make out any words in that voice message. Please try again.",
    "image_unsupported": "Sorry, I can only read text here; pictures are not supported.",
    "image_usage": "Describe the picture after the command, e.g. /image a cat reading a book.",
    "image_done": "Here is your picture.",
    "image_edited": "Here is your changed picture.",
    "image_blind": "The assistant's model cannot look at pictures, so I will not send it any "
    "more of them. Please describe the picture in words.",
    "model_list": "Models (current: {current}):\n{lines}\nSwitch with /model NAME.",
    "model_fixed": "This bot uses {current}; the operator has not enabled switching models.",
    "model_switched": "Switched to model {name}.",
    "model_unknown": "Model “{name}” is not available. Send /model to see the list.",
    "error_audio_format": "I cannot read this voice recording. Please try again, or type your "
    "message.",
    "reset_done": "Done: I have forgotten our conversation.",
    "prompt_list": "Presets (current: {current}):\n{lines}\nSwitch with /prompt NAME.",
    "prompt_switched": "Switched to preset “{name}”. History was cleared.",
    "prompt_unknown": "There is no preset “{name}”. Send /prompt to see the list.",
    "empty_input": "I got an empty message. Please type something.",
    "input_too_long": "That message is too long ({length} characters; the limit is {limit}). "
    "Please shorten it.",
    "not_allowed": "Sorry, this bot is not available to you. Ask its operator for access.",
    "rate_limited": "You are sending messages faster than I can answer. Please wait a minute.",
    "quota_exceeded": "You have reached today's message limit. Please come back tomorrow.",
    "token_quota_user": "Sorry, you have used today's allowance of the assistant. It renews at "
    "00:00 UTC; please come back then.",
    "token_quota_user.zh": "抱歉，您今天的使用额度已用完，将于 UTC 零点（北京时间早上 8 点）恢复，"
    "请届时再来。",
    "token_quota_chat": "Sorry, this chat has used today's allowance of the assistant. It renews "
    "at 00:00 UTC.",
    "token_quota_chat.zh": "抱歉，本群今天的使用额度已用完，将于 UTC 零点（北京时间早上 8 点）恢复。",
    "token_quota_left_user": "Tokens left for you today: {left}",
    "token_quota_left_user.zh": "您今天剩余的额度：{left} tokens",
    "token_quota_left_chat": "Tokens left for this chat today: {left}",
    "token_quota_left_chat.zh": "本群今天剩余的额度：{left} tokens",
    "storage_unavailable": "My memory is unavailable right now; I answered without our history.",
    "error_upstream": "Sorry, the assistant is having trouble right now. Please try again shortly.",
    "error_llm_auth": "Sorry, the assistant is not configured correctly. The operator has been told.",
    "error_llm_rate_limit": "The assistant is busy right now. Please try again in a minute.",
    "error_llm_quota": "The assistant's usage quota is used up. The operator has been told.",
    "error_llm_timeout": "The assistant took too long to answer. Please try again.",
    "error_llm_unreachable": "I cannot reach the assistant right now. Please try again shortly.",
    "error_llm_server": "The assistant's service had an error. Please try again shortly.",
    "error_llm_bad_request": "The assistant could not handle that request. Try /reset and ask again.",
    "error_llm_context_length": "Our conversation got too long for the assistant. "
    "Send /reset to start over.",
    "error_llm_content_filter": "The assistant declined to answer that.",
    "error_llm_no_vision": "The assistant's model cannot look at pictures. Please describe the "
    "picture in words.",
    "error_llm_empty": "The assistant returned an empty answer. Please try again.",
    "moderation_input": "Sorry, I can't help with that message. Please rephrase it.",
    "moderation_output": "Sorry, I can't share that answer. Please ask something else.",
    "moderation_unavailable": "Sorry, I can't answer right now. Please try again in a moment.",
    "error_internal": "Sorry, something went wrong on my side. Please try again.",
    "kb_unknown": "I could not find anything about that in the documents I have, so I do not "
    "know. Try asking in other words.",
    "kb_prompt": "Passages from the operator's documents that may help with the next message. "
    "Use them when they are relevant and cite each one you use by its number in square brackets, "
    "like [1].",
    "kb_prompt_strict": "Answer only from the passages below and cite each one you use by its "
    "number in square brackets, like [1]. If they do not contain the answer, say that you do not "
    "know; never make one up.",
    "kb_tool_strict": "Answer only from what the search_knowledge tool finds, citing passages by "
    "their numbers like [1]. If it finds nothing relevant, say that you do not know.",
    "tool_status": "🔧 {tool}…",
}

_FORMAT = string.Formatter()

# The texts of the account the message in hand came to (set by the pipeline, see `speaking_for`).
_SPEAKING: ContextVar[Texts | None] = ContextVar("texts_speaking", default=None)


def placeholders(template: str) -> set[str]:
    """The names `template` fills in (`{name.attr}` and `{name[0]}` count as `name`, a positional
    `{}` as the empty name); ValueError when it does not parse."""
    names: set[str] = set()
    for _, field, spec, _ in _FORMAT.parse(template):
        if field is not None:
            names.add(re.split(r"[.\[]", field, maxsplit=1)[0])
            names |= placeholders(spec or "")  # a nested field such as {left:>{width}}
    return names


class Texts:
    """The defaults with the operator's overrides on top (account > section > root `texts:`)."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._defaults: dict[str, str] = dict(DEFAULTS)
        self._platforms: list[str] = []
        self._overrides = dict(overrides or {})  # the root `texts:`, checked by `check()`
        self._layers: tuple[Mapping[str, str], ...] = ()  # a section's and an account's, checked
        self._texts: dict[str, str] = {}
        self._accounts: dict[tuple[str, str], Texts] = {}  # (platform, account) -> its texts
        self._merge()

    def __repr__(self) -> str:  # counts only: an override may hold anything
        return f"Texts({len(self._texts)} texts, {len(self._overrides)} set under texts:)"

    def _merge(self) -> None:
        self._texts = {**self._defaults, **self._overrides}
        for layer in self._layers:
            self._texts.update(layer)

    def register(self, platform: str, defaults: Mapping[str, str]) -> None:
        """Add an adapter's own texts, each key `platform_...`. Its factory calls this whether or
        not the platform is configured, so the root `texts:` may name them either way."""
        stray = sorted(key for key in defaults if not key.startswith(f"{platform}_"))
        if stray:
            raise ValueError(f"{platform} texts must start with {platform}_: {', '.join(stray)}")
        self._defaults.update(defaults)
        if platform not in self._platforms:
            self._platforms.append(platform)
        self._merge()

    def check(self) -> None:
        """ConfigError for the first root override that is unknown or does not fit its default;
        called once every adapter has registered its texts."""
        for key, template in self._overrides.items():
            self.fit(key, template, f"texts.{key}")

    def overrides(self, s: Section, platform: str) -> dict[str, str]:
        """The section's `texts:` as checked overrides of `platform`'s own texts (written with or
        without the prefix: `welcome` or `wechat_welcome`) and of the core's (`help`)."""
        texts = s.section("texts")
        found = {}
        for name in texts.names():
            own = name if name.startswith(f"{platform}_") else f"{platform}_{name}"
            # The platform's own text first (`image_unsupported` names WeChat's there), else
            # one of the core's (`help`), said to this section's or account's messages only.
            key = name if not self._known(own) and self._known(name) else own
            value, where = texts.raw(name)
            if value is None:
                continue  # `welcome:` left empty: the text is not overridden
            if not self._known(key):
                raise ConfigError(f"{where}: unknown {platform} text")
            found[key] = self.fit(key, texts.text(name), where)
        return found

    def fit(self, key: str, template: str, where: str) -> str:
        """`template`, when `key` is a text and the template fills only its default's
        placeholders; ConfigError naming `where` otherwise (never echoing the template)."""
        if not self._known(key):
            raise ConfigError(f"{where}: unknown text{self._hint(key)}")
        default = self._defaults.get(key) or self._defaults[key.rsplit(".", 1)[0]]
        try:
            used = placeholders(template)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a valid template ({exc}; write {{{{ and }}}} for a "
                              "literal brace)") from None
        known = placeholders(default)
        unknown = sorted(used - known)
        if unknown:
            takes = ", ".join(f"{{{name}}}" for name in sorted(known)) or "none"
            raise ConfigError(f"{where}: unknown placeholder {{{unknown[0]}}} (this text "
                              f"takes: {takes})")
        return template

    def _known(self, key: str) -> bool:
        """A default's key, or `key.lang` of a text looked up by language (one with a default
        variant, such as `token_quota_user.zh`)."""
        if key in self._defaults:
            return True
        base = key.rsplit(".", 1)[0]
        return base != key and any(k.startswith(f"{base}.") for k in self._defaults)

    def _hint(self, key: str) -> str:
        for platform in self._platforms:
            if f"{platform}_{key}" in self._defaults:
                return f" (did you mean {platform}.texts.{key}?)"
        return ""

    def scoped(self, *layers: Mapping[str, str]) -> Texts:
        """A copy with a section's and an account's checked overrides on top, the last winning."""
        scoped = Texts(self._overrides)
        scoped._defaults = dict(self._defaults)
        scoped._platforms = list(self._platforms)
        scoped._layers = (*self._layers, *layers)
        scoped._merge()
        return scoped

    def adopt(self, platform: str, account: str, texts: Texts) -> None:
        """Say the core's texts, too, as `texts` (an account's `scoped` copy) has them, to the
        messages of that account (an adapter calls this for each of its accounts)."""
        self._accounts[(platform, account)] = texts

    @contextmanager
    def speaking_for(self, platform: str, account: str) -> Iterator[None]:
        """While one message runs through the pipeline, `get` answers with its account's texts
        (the steps hold the process's `Texts`; a context variable keeps messages apart)."""
        token = _SPEAKING.set(self._accounts.get((platform, account)))
        try:
            yield
        finally:
            _SPEAKING.reset(token)

    def get(self, key: str, lang: str | None = None, **values: object) -> str:
        """The text for `key` (its `key.lang` variant when there is one), formatted; an unknown
        key falls back to the internal-error text."""
        table = self._texts
        if self._accounts and (speaking := _SPEAKING.get()) is not None:
            table = speaking._texts  # the message's account has texts of its own
        template = (lang and table.get(f"{key}.{lang}")) or table.get(key) \
            or table["error_internal"]
        try:
            return template.format(**values)
        except (KeyError, IndexError, ValueError):
            return template  # a caller that passes fewer values than the text names
