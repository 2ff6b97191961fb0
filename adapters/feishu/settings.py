"""The `feishu:` config section, read once into a frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.feishu.texts import PLATFORM, registered
from bot.accounts import DEFAULT, Profile, entries, profile
from bot.config import Secret, Section
from bot.errors import ConfigError
from bot.texts import Texts

FEISHU = "https://open.feishu.cn"
OWN = ("app_id", "app_secret", "verification_token", "encrypt_key")
"""An app's credentials: never inherited from the `feishu:` section by a listed app."""


@dataclass(frozen=True, slots=True)
class FeishuSettings:
    """Credentials, endpoint and behaviour of the Feishu/Lark adapter."""

    app_id: str
    app_secret: Secret = field(default_factory=Secret)
    verification_token: Secret = field(default_factory=Secret)
    encrypt_key: Secret = field(default_factory=Secret)
    base_url: str = FEISHU
    mode: str = "webhook"
    group_shared_history: bool = False
    card_updates_per_second: float = 2.0
    cardkit: bool = True
    replay_window: float = 300.0
    retry_attempts: int = 3
    retry_backoff: float = 0.5
    max_card_bytes: int = 28000
    account: str = DEFAULT  # the id in `feishu.apps`, or `default` (the environment's)
    thread_history: bool = True  # one history per topic (thread)
    thread_needs_mention: bool = False  # False: a topic started with an @mention goes on without
    profile: Profile = field(default_factory=Profile)  # preset, model, keywords
    ping_timeout: float = 300.0  # no frame from the long connection this long: it is dead
    reconnect_base: float = 1.0  # first reconnect delay (doubling, jittered)
    reconnect_max: float = 60.0
    texts: Texts = field(default_factory=registered)  # the app's, its overrides on top

    @property
    def path(self) -> str:
        """Where Feishu posts this app's events (webhook mode)."""
        return "/feishu/events" if self.account == DEFAULT else f"/feishu/{self.account}/events"

    def scoped(self, key: str) -> str:
        """`key` qualified by the app unless it is `default` (storage keys as before)."""
        return key if self.account == DEFAULT else f"{self.account}/{key}"


def read(s: Section, texts: Texts | None = None) -> FeishuSettings | None:
    """The `default` app; None when `FEISHU_APP_ID` (or `feishu.app_id`) is unset. `texts` (the
    core's, this adapter's registered) default to the built-in ones."""
    if not s.text("app_id", env="FEISHU_APP_ID"):
        return None
    base = registered() if texts is None else texts
    return _app(s, DEFAULT, base.scoped(base.overrides(s, PLATFORM)))


def read_all(s: Section, texts: Texts | None = None) -> list[FeishuSettings]:
    """Every app: `default`, then `feishu.apps` (each with its own app_id); empty = off."""
    base = registered() if texts is None else texts
    section = base.overrides(s, PLATFORM)
    listed = zip(entries(s, "apps", OWN), s.items("apps"), strict=True)
    # an app's own `texts:` (not the section's it inherits) overrides the section's
    found = [_app(entry, ident, base.scoped(section, base.overrides(own, PLATFORM)))
             for (ident, entry), own in listed]
    default = read(s, base)
    return [default, *found] if default is not None else found


def _app(s: Section, account: str, texts: Texts) -> FeishuSettings:
    app_id = s.text("app_id", env="FEISHU_APP_ID")
    if not app_id:
        raise ConfigError(f"{s.raw('app_id')[1]}: every app in feishu.apps needs an app_id")
    return FeishuSettings(
        app_id=app_id,
        app_secret=s.secret("app_secret", env="FEISHU_APP_SECRET"),
        verification_token=s.secret("verification_token", env="FEISHU_VERIFICATION_TOKEN"),
        encrypt_key=s.secret("encrypt_key", env="FEISHU_ENCRYPT_KEY"),
        base_url=s.url("base_url", FEISHU, env="FEISHU_BASE_URL"),
        mode=s.choice("mode", "webhook", ("webhook", "websocket"), env="FEISHU_MODE"),
        group_shared_history=s.flag("group_shared_history", False),
        # Feishu allows 5 PATCH/s per message and 10 CardKit operations/s per card.
        card_updates_per_second=min(s.number("card_updates_per_second", 2.0, minimum=0.1), 5.0),
        cardkit=s.flag("cardkit", True),
        replay_window=s.number("replay_window", 300.0),
        retry_attempts=s.integer("retry_attempts", 3, minimum=0),
        retry_backoff=s.number("retry_backoff", 0.5),
        max_card_bytes=s.integer("max_card_bytes", 28000, minimum=1000),
        account=account,
        thread_history=s.flag("thread_history", True),
        thread_needs_mention=s.flag("thread_needs_mention", False),
        profile=profile(s),
        ping_timeout=s.number("ping_timeout", 300.0, minimum=0.1),
        reconnect_base=s.number("reconnect_base", 1.0, minimum=0.01),
        reconnect_max=s.number("reconnect_max", 60.0, minimum=0.01),
        texts=texts,
    )
