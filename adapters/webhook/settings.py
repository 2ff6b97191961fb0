"""The webhook's config sections, `api:` and `relay:`, read once into a frozen record."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import Secret, Section
from bot.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """`relay:` in config.yaml: the bot's controls on `/v1/chat/completions`."""

    per_key_per_minute: int = 60
    per_key_per_day: int = 5000
    any_model: bool = False
    max_input_chars: int = 16000


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Who may call the API (bearer keys, an HMAC secret), where async answers go, push limits,
    and the relay's controls."""

    keys: tuple[Secret, ...] = ()
    hmac_secret: Secret = field(default_factory=Secret)
    callback_url: str = ""
    callback_secret: Secret = field(default_factory=Secret)  # api.callback_secret or hmac_secret
    callback_retry_seconds: float = 1.0
    send_per_minute: int = 60
    send_per_day: int = 10_000
    relay: RelaySettings = field(default_factory=RelaySettings)


def read(api: Section, relay: Section) -> WebhookSettings:
    """Read `api:` and `relay:`; ConfigError naming the first bad key."""
    keys = tuple(Secret(k) for k in api.strings("keys", env="BOT_API_KEYS"))
    hmac_secret = api.secret("hmac_secret", env="BOT_API_HMAC_SECRET")
    callback_url = api.url("callback_url", "", env="BOT_CALLBACK_URL")
    callback_secret = api.secret("callback_secret", env="BOT_CALLBACK_SECRET") or hmac_secret
    retry = api.number("callback_retry_seconds", 1.0, minimum=0.01)
    if callback_url and not callback_secret:
        raise ConfigError("api.callback_secret (BOT_CALLBACK_SECRET): required with "
                          "api.callback_url, so receivers can verify our callbacks "
                          "(api.hmac_secret is used when set)")
    return WebhookSettings(
        keys=keys,
        hmac_secret=hmac_secret,
        callback_url=callback_url,
        callback_secret=callback_secret,
        callback_retry_seconds=retry,
        send_per_minute=api.integer("send_per_minute", 60, minimum=0),
        send_per_day=api.integer("send_per_day", 10_000, minimum=0),
        relay=_relay(relay),
    )


def _relay(section: Section) -> RelaySettings:
    """Every control is on by default."""
    return RelaySettings(
        per_key_per_minute=section.integer("per_key_per_minute", 60, minimum=0),
        per_key_per_day=section.integer("per_key_per_day", 5000, minimum=0),
        any_model=section.flag("any_model", False),
        max_input_chars=section.integer("max_input_chars", 16000, minimum=0),
    )
