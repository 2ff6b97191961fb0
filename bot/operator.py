"""The operator plane's settings: pricing, usage retention, the audit trail and per-chat routes.

`routes:` is a list of `{match: {platform, account, chat, user}, preset, model, models, limits,
moderation, knowledge}`; the first route whose every given match key holds wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.config import Secret, Section
from bot.errors import ConfigError

# config key under `limits:` -> LimitSettings field (a route may override any of them)
LIMIT_KEYS = {
    "per_user_per_minute": "per_minute",
    "per_user_per_day": "per_day",
    "tokens_per_user_per_day": "tokens_per_user",
    "tokens_per_chat_per_day": "tokens_per_chat",
}
MATCH_KEYS = ("platform", "account", "chat", "user")
ROUTE_KEYS = ("match", "preset", "model", "models", "limits", "moderation", "knowledge")


@dataclass(frozen=True, slots=True)
class Price:
    """What a model costs, per million tokens in and out (the operator's currency)."""

    input_per_1m: float = 0.0
    output_per_1m: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """The cost of that many tokens."""
        return (tokens_in * self.input_per_1m + tokens_out * self.output_per_1m) / 1_000_000


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """The audit trail: a capped stream in storage, off by default."""

    enabled: bool = False
    retention_days: float = 30.0
    mask: bool = True
    max_entries: int = 1_000_000


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The conditions of a route; an empty set matches anything."""

    platform: frozenset[str] = frozenset()
    account: frozenset[str] = frozenset()
    chat: frozenset[str] = frozenset()
    user: frozenset[str] = frozenset()

    def matches(self, platform: str, account: str, chat: str, user: str) -> bool:
        """True when every condition given holds."""
        return all(not wanted or value in wanted for wanted, value in (
            (self.platform, platform), (self.account, account), (self.chat, chat),
            (self.user, user)))


@dataclass(frozen=True, slots=True)
class Route:
    """What a matching chat gets instead of the global defaults (None = inherit)."""

    name: str
    match: RouteMatch = field(default_factory=RouteMatch)
    preset: str | None = None
    model: str | None = None
    models: tuple[str, ...] | None = None
    limits: Mapping[str, int] = field(default_factory=dict)  # LimitSettings field -> value
    moderation: Mapping[str, Any] = field(default_factory=dict)  # validated; see README
    knowledge: Mapping[str, Any] = field(default_factory=dict)  # validated; see README


DEFAULT_ROUTE = Route("default")


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """Everything the operator plane reads from the config."""

    admin_keys: tuple[Secret, ...] = ()
    pricing: Mapping[str, Price] = field(default_factory=dict)
    usage_retention_days: float = 90.0
    audit: AuditSettings = field(default_factory=AuditSettings)
    routes: tuple[Route, ...] = ()


def _pricing(s: Section) -> dict[str, Price]:
    prices = {}
    for model in s.names():
        entry = s.section(model)
        entry.only("input_per_1m", "output_per_1m")
        prices[model] = Price(entry.number("input_per_1m", 0.0), entry.number("output_per_1m", 0.0))
    return prices


def _moderation(s: Section) -> dict[str, Any]:
    s.only("input", "output", "on_error", "openai", "words_file")
    values: dict[str, Any] = {}
    for key, choices in (("input", ("refuse", "off")), ("output", ("mask", "refuse", "off")),
                         ("on_error", ("open", "closed"))):
        if key in s.names():
            values[key] = s.choice(key, choices[0], choices)
    if "openai" in s.names():
        values["openai"] = s.flag("openai", False)
    if "words_file" in s.names():
        values["words_file"] = s.text("words_file")
    return values


def _knowledge(parent: Section) -> dict[str, Any]:
    raw = parent.raw("knowledge")[0]
    if raw is None:
        return {}
    if isinstance(raw, bool):
        return {"enabled": raw}
    s = parent.section("knowledge")
    s.only("enabled", "dir", "mode", "top_k", "min_score")
    values: dict[str, Any] = {"enabled": s.flag("enabled", True)}
    if "dir" in s.names():
        values["dir"] = s.text("dir")
    if "mode" in s.names():
        values["mode"] = s.choice("mode", "auto", ("auto", "tool"))
    if "top_k" in s.names():
        values["top_k"] = s.integer("top_k", 4, minimum=1)
    if "min_score" in s.names():
        values["min_score"] = s.number("min_score", 0.3)
    return values


def limit_overrides(s: Section) -> dict[str, int]:
    """The `limits:` keys a route may set, as LimitSettings field names."""
    s.only(*LIMIT_KEYS)
    return {field: s.integer(key, 0, minimum=0) for key, field in LIMIT_KEYS.items()
            if key in s.names()}


def _route(s: Section) -> Route:
    s.only(*ROUTE_KEYS)
    match = s.section("match")
    match.only(*MATCH_KEYS)
    if not match.names():
        raise ConfigError(f"{s.raw('match')[1]}: a route needs at least one of "
                          f"{', '.join(MATCH_KEYS)} (it would match every message)")
    models = s.strings("models") if "models" in s.names() else None
    return Route(
        name=s.raw("match")[1].rsplit(".", 1)[0],
        match=RouteMatch(**{key: frozenset(match.strings(key)) for key in MATCH_KEYS}),
        preset=s.text("preset") or None,
        model=s.text("model") or None,
        models=models,
        limits=limit_overrides(s.section("limits")),
        moderation=_moderation(s.section("moderation")),
        knowledge=_knowledge(s),
    )


def operator_settings(root: Section) -> OperatorSettings:
    """Read `admin`, `pricing`, `usage`, `audit` and `routes`; ConfigError names a bad key."""
    audit = root.section("audit")
    audit.only("enabled", "retention_days", "mask", "max_entries")
    return OperatorSettings(
        admin_keys=tuple(Secret(k) for k in root.section("admin").strings("keys", env="BOT_ADMIN_KEYS")),
        pricing=_pricing(root.section("pricing")),
        usage_retention_days=root.section("usage").number("retention_days", 90.0, minimum=1.0),
        audit=AuditSettings(
            enabled=audit.flag("enabled", False),
            retention_days=audit.number("retention_days", 30.0, minimum=0.01),
            mask=audit.flag("mask", True),
            max_entries=audit.integer("max_entries", 1_000_000, minimum=100),
        ),
        routes=tuple(_route(item) for item in root.items("routes")),
    )
