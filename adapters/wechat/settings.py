"""The `wechat:` config section, read once into a frozen record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.wechat.texts import PLATFORM, registered
from bot.accounts import DEFAULT, Profile, entries, profile
from bot.config import Secret, Section
from bot.errors import ConfigError
from bot.texts import Texts

OWN = ("token", "app_id", "app_secret", "encoding_aes_key", "customer_service")
"""An account's credentials: never inherited from the `wechat:` section by a listed account."""

@dataclass(frozen=True, slots=True)
class WeChatSettings:
    """Account credentials, deadline timings, limits and texts."""

    token: str
    app_id: str = ""
    app_secret: Secret = field(default_factory=Secret)
    encoding_aes_key: Secret = field(default_factory=Secret)
    customer_service: bool = False
    api_base: str = "https://api.weixin.qq.com"
    stable_token: bool = True
    deadline: float = 4.5
    hold: float = 6.0
    attempts: int = 3
    listens: float = 5.0
    lease: float = 20.0
    replay_window: float = 300.0
    max_body_bytes: int = 64 * 1024
    max_reply_bytes: int = 2047
    pending_ttl: float = 48 * 3600.0
    more_words: tuple[str, ...] = ("继续", "more")
    texts: Texts = field(default_factory=registered)  # the account's, its overrides on top
    account: str = DEFAULT  # the id in `wechat.accounts`, or `default` (the environment's)
    scenes: dict[str, str] = field(default_factory=dict)  # QR scene key -> text (SCAN, subscribe)
    menu: dict[str, str] = field(default_factory=dict)  # CLICK EventKey -> text or "/command"
    menu_layout: Any = None  # the `button` list for the custom menu API
    profile: Profile = field(default_factory=Profile)  # preset, model, keywords

    @property
    def path(self) -> str:
        """Where WeChat pushes this account's messages."""
        return "/wechat" if self.account == DEFAULT else f"/wechat/{self.account}"

    @property
    def retries_over(self) -> float:
        """Seconds after the first delivery by which WeChat has made its last retry (each retry
        follows the previous attempt's 5 s timeout, and `hold` exceeds 5 s)."""
        return (self.attempts + 1) * self.hold

    @property
    def has_api(self) -> bool:
        """Whether server API calls (token, customer service, media) are possible."""
        return bool(self.app_id and self.app_secret)


def read(s: Section, texts: Texts | None = None) -> WeChatSettings | None:
    """The `default` account's settings, or None when no token is configured for it; `texts`
    (the core's, this adapter's registered) default to the built-in ones."""
    if not s.text("token", env="WECHAT_TOKEN"):
        return None
    base = registered() if texts is None else texts
    return _account(s, DEFAULT, base.scoped(_texts(base, s)))


def read_all(s: Section, texts: Texts | None = None) -> list[WeChatSettings]:
    """Every account: `default` (environment and the section's own keys), then
    `wechat.accounts` (each needs its own token); empty = the adapter is off."""
    base = registered() if texts is None else texts
    section = _texts(base, s)
    listed = zip(entries(s, "accounts", OWN), s.items("accounts"), strict=True)
    # an account's own keys (not what it inherits) override the section's texts
    found = [_account(entry, ident, base.scoped(section, _texts(base, own)))
             for (ident, entry), own in listed]
    default = read(s, base)
    return [default, *found] if default is not None else found


def _texts(base: Texts, s: Section) -> dict[str, str]:
    """`s.texts`, and `s.welcome`: the older spelling of `texts.welcome`, which it beats."""
    found = base.overrides(s, PLATFORM)
    if s.text("welcome"):
        found["wechat_welcome"] = base.fit("wechat_welcome", s.text("welcome"), s.raw("welcome")[1])
    return found


def _account(s: Section, account: str, texts: Texts) -> WeChatSettings:
    token = s.text("token", env="WECHAT_TOKEN")
    if not token:
        raise ConfigError(f"{s.raw('token')[1]}: every account in wechat.accounts needs a token")
    layout = s.raw("menu_layout")[0]
    if layout is not None and not isinstance(layout, list):
        raise ConfigError(f"{s.raw('menu_layout')[1]}: expected a list of buttons")
    settings = WeChatSettings(
        token=token,
        app_id=s.text("app_id", env="WECHAT_APP_ID"),
        app_secret=s.secret("app_secret", env="WECHAT_APP_SECRET"),
        encoding_aes_key=s.secret("encoding_aes_key", env="WECHAT_ENCODING_AES_KEY"),
        customer_service=s.flag("customer_service", False, env="WECHAT_CUSTOMER_SERVICE"),
        api_base=s.url("api_base", "https://api.weixin.qq.com", env="WECHAT_API_BASE"),
        stable_token=s.choice("token_api", "stable", ("stable", "classic")) == "stable",
        deadline=s.number("deadline", 4.5, minimum=0.05),
        hold=s.number("hold", 6.0, minimum=0.05),
        attempts=s.integer("attempts", 3, minimum=1),
        listens=s.number("listens", 5.0, minimum=0.05),
        lease=s.number("lease", 20.0, minimum=0.3),
        replay_window=s.number("replay_window", 300.0),
        max_body_bytes=s.integer("max_body_bytes", 64 * 1024, minimum=1024),
        max_reply_bytes=s.integer("max_reply_bytes", 2047, minimum=64),
        pending_ttl=s.number("pending_ttl", 48 * 3600.0, minimum=60.0),
        more_words=tuple(w.lower() for w in s.strings("more_words")) or ("继续", "more"),
        texts=texts,
        account=account,
        scenes=s.mapping("scenes"),
        menu=s.mapping("menu"),
        menu_layout=layout,
        profile=profile(s),
    )
    return _checked(settings)


def _checked(settings: WeChatSettings) -> WeChatSettings:
    """The settings, unless two of them contradict each other."""
    if settings.encoding_aes_key and not settings.app_id:
        raise ConfigError("wechat.app_id (WECHAT_APP_ID): required when an EncodingAESKey is set")
    if settings.customer_service and not settings.has_api:
        raise ConfigError("wechat.customer_service (WECHAT_CUSTOMER_SERVICE): needs "
                          "WECHAT_APP_ID and WECHAT_APP_SECRET")
    if settings.hold < settings.deadline:
        raise ConfigError(f"wechat.hold: must be at least wechat.deadline ({settings.deadline})")
    return settings
