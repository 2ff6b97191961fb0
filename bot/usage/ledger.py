"""Daily usage counters in storage: one hash per UTC day and dimension, plus a quota hash.

Keys are `usage:{YYYY-MM-DD}:<dimension>` with fields `<value>\\x1f<model>\\x1f<metric>`; all of a
day's keys share the `{YYYY-MM-DD}` hash tag, so one message's increments are one MULTI (and one
Redis Cluster slot). `usage:{day}:quota` holds the tokens per user and per chat that quotas read.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.storage import Storage
from bot.usage.meter import METRICS as METRIC_NAMES
from bot.usage.meter import Meter

DIMENSIONS = ("user", "chat", "account", "platform", "model")
SEP = "\x1f"

Counts = dict[str, dict[str, dict[str, int]]]
"""value -> model -> metric -> count, for one dimension over some days."""


@dataclass(frozen=True, slots=True)
class Who:
    """Whom a message's usage is counted for, on every dimension but the model."""

    platform: str
    user: str
    chat: str
    account: str = "default"

    @property
    def user_key(self) -> str:
        """`platform:user`, as the admin API names users."""
        return _clean(f"{self.platform}:{self.user}")

    @property
    def chat_key(self) -> str:
        """`platform:chat`."""
        return _clean(f"{self.platform}:{self.chat}")

    def value(self, dimension: str, model: str) -> str:
        """This message's value on a dimension."""
        return {"user": self.user_key, "chat": self.chat_key, "platform": _clean(self.platform),
                "account": _clean(f"{self.platform}:{self.account}"), "model": model}[dimension]


def _clean(text: str) -> str:
    return text.replace(SEP, " ")


def day_of(timestamp: float) -> str:
    """The UTC date of a Unix time, `YYYY-MM-DD` (quotas and counters roll over at 00:00 UTC)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()


def days_between(first: dt.date, last: dt.date) -> list[str]:
    """Every date from `first` to `last`, inclusive."""
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _key(day: str, dimension: str) -> str:
    return f"usage:{{{day}}}:{dimension}"


class UsageLedger:
    """Records each message's meter and reads the counters back for quotas and reports."""

    def __init__(self, storage: Storage, retention_days: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._storage = storage
        self._ttl = retention_days * 86400 + 86400  # a day's counters outlive the day itself
        self.clock = clock

    def today(self) -> str:
        """Today's UTC date."""
        return day_of(self.clock())

    async def record(self, who: Who, meter: Meter) -> None:
        """Add one message's usage (with `msgs` = 1 under its primary model) to today's hashes."""
        day, primary = self.today(), meter.primary or "-"
        updates = []
        for dimension in DIMENSIONS:
            fields: dict[str, int] = {}
            for model, counts in meter.models.items():
                value = who.value(dimension, model)
                for metric, amount in counts.items():
                    fields[f"{value}{SEP}{model}{SEP}{metric}"] = amount
            fields[f"{who.value(dimension, primary)}{SEP}{primary}{SEP}msgs"] = 1
            updates.append((_key(day, dimension), fields))
        if meter.tokens:
            updates.append((_key(day, "quota"), {f"u{SEP}{who.user_key}": meter.tokens,
                                                 f"c{SEP}{who.chat_key}": meter.tokens}))
        await self._storage.hincr(updates, self._ttl)

    async def tokens_today(self, who: Who) -> tuple[int, int]:
        """Tokens used today by the user and in the chat."""
        user, chat = f"u{SEP}{who.user_key}", f"c{SEP}{who.chat_key}"
        [found] = await self._storage.hread([(_key(self.today(), "quota"), [user, chat])])
        return int(found.get(user, 0)), int(found.get(chat, 0))

    async def by_day(self, days: Sequence[str], dimension: str) -> list[Counts]:
        """Each day's counters on one dimension (one pipelined read)."""
        found = await self._storage.hread([(_key(day, dimension), None) for day in days])
        return [_parse(fields) for fields in found]

    async def of_value(self, days: Sequence[str], dimension: str, value: str) -> list[Counts]:
        """Each day's counters of one user (or chat...): the day's models first, then HMGET."""
        models = [set(counts) for counts in await self.by_day(days, "model")]
        reads: list[tuple[str, Sequence[str] | None]] = [
            (_key(day, dimension), [f"{_clean(value)}{SEP}{model}{SEP}{metric}"
                                    for model in sorted(day_models) for metric in METRIC_NAMES])
            for day, day_models in zip(days, models, strict=True)]
        return [_parse(fields) for fields in await self._storage.hread(reads)]


def _parse(fields: dict[str, str]) -> Counts:
    counts: Counts = {}
    for name, amount in fields.items():
        value, model, metric = name.rsplit(SEP, 2)
        counts.setdefault(value, {}).setdefault(model, {})[metric] = int(amount)
    return counts

