"""Several accounts (apps) per platform: their ids, their config entries and what the core keeps
apart per account (history, limits, metrics) and gives each (a default preset and model, fixed
keyword answers). Platform-neutral: adapters read their own lists and register a `Profile` each.

The account `default` is the one today's environment variables define; its storage keys are the
ones used before several accounts existed, so an upgrade keeps every history and counter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.config import Section
from bot.errors import ConfigError

DEFAULT = "default"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def scope(platform: str, account: str) -> str:
    """The platform, qualified by the account unless it is `default` (storage keys, labels)."""
    return platform if account == DEFAULT else f"{platform}@{account}"


@dataclass(frozen=True, slots=True)
class Keyword:
    """A fixed answer: the whole (trimmed, case-folded) text equals `word`, or `pattern` matches."""

    word: str
    text: str
    pattern: re.Pattern[str] | None = None

    def matches(self, text: str) -> bool:
        """True when this keyword answers `text`."""
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        return text.strip().casefold() == self.word


def keywords(mapping: Mapping[str, str], where: str) -> tuple[Keyword, ...]:
    """`{"word" | "re:pattern": "text"}` in the file's order; ConfigError for a bad pattern."""
    found = []
    for key, text in mapping.items():
        if key.startswith("re:"):
            try:
                found.append(Keyword(key, text, re.compile(key[3:])))
            except re.error as exc:
                raise ConfigError(f"{where}.{key!r}: not a valid regular expression: {exc}") from None
        elif key.strip():
            found.append(Keyword(key.strip().casefold(), text))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Profile:
    """What an account gives its messages by default (a route still overrides it)."""

    preset: str | None = None
    model: str | None = None
    keywords: tuple[Keyword, ...] = ()

    def keyword(self, text: str) -> str | None:
        """The fixed answer for `text`, first match wins; None when no keyword matches."""
        return next((k.text for k in self.keywords if k.matches(text)), None)


class Accounts:
    """The profiles adapters registered, by (platform, account)."""

    def __init__(self) -> None:
        self._profiles: dict[tuple[str, str], Profile] = {}

    def register(self, platform: str, account: str, profile: Profile) -> None:
        """Record an account's profile (adapters call it while they are built)."""
        self._profiles[(platform, account)] = profile

    def profile(self, platform: str, account: str) -> Profile | None:
        """The account's profile, None when the adapter registered none."""
        return self._profiles.get((platform, account))

    def items(self) -> list[tuple[tuple[str, str], Profile]]:
        """((platform, account), profile) of every registered account."""
        return list(self._profiles.items())


def profile(s: Section) -> Profile:
    """`preset`, `model` and `keywords` of an account's section."""
    return Profile(preset=s.text("preset") or None, model=s.text("model") or None,
                   keywords=keywords(s.mapping("keywords"), s.raw("keywords")[1]))


def entries(parent: Section, key: str, own: Iterable[str]) -> list[tuple[str, Section]]:
    """Each entry of the list `parent.key` as (id, section). An entry inherits the parent's
    settings except `key` itself and the `own` keys (credentials: never shared by accident);
    environment variables only ever define the account `default`."""
    skip = {key, *own}
    inherited = {name: parent.raw(name)[0] for name in parent.names() if name not in skip}
    seen: set[str] = set()
    found = []
    for entry in parent.items(key):
        where = entry.raw("id")[1]
        ident = entry.text("id")
        if not _ID.match(ident):
            raise ConfigError(f"{where}: an account id is 1-32 letters, digits, '-' or '_'")
        if ident == DEFAULT or ident in seen:
            raise ConfigError(f"{where}: {ident!r} is taken (`default` is the account of the "
                              "environment variables)")
        seen.add(ident)
        data = {**inherited, **{name: entry.raw(name)[0] for name in entry.names() if name != "id"}}
        found.append((ident, Section(data, where.rsplit(".", 1)[0], {})))
    return found
