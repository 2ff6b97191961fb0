"""The audit trail: messages, answers, commands and admin actions in a capped storage stream.

Off by default (`audit.enabled`); admin actions are recorded whether or not it is on. With
`audit.mask` phone numbers, ID numbers and e-mail addresses are masked before anything is stored.
The text is never logged (not even at DEBUG: the pipeline's own DEBUG line already is).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from bot.errors import StorageUnavailable
from bot.operator import AuditSettings
from bot.storage import Storage

log = logging.getLogger(__name__)

STREAM = "audit"
PAGE = 500
SCAN_LIMIT = 50_000  # entries a search looks through at most, newest first

# Order matters: ID numbers are longer digit runs than phone numbers.
_MASKS = (
    (re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])|(?<!\d)\d{15}(?!\d)"), "[id]"),
    (re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"), "[phone]"),
    (re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s-]?\d{2,4}){2,4}(?!\d)"), "[phone]"),
    (re.compile(r"(?<!\d)\(?\d{3}\)?[\s-]\d{3,4}[\s-]\d{4}(?!\d)"), "[phone]"),
)


def mask(text: str) -> str:
    """Replace phone numbers, ID numbers (China's 18/15-digit ones) and e-mail addresses."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def parse_since(text: str) -> float:
    """`YYYY-MM-DD` (UTC midnight), an ISO date-time, or Unix seconds; ValueError otherwise."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _entry(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    ts = float(fields.get("ts") or int(entry_id.split("-")[0]) / 1000)
    entry: dict[str, Any] = {"id": entry_id, "time": dt.datetime.fromtimestamp(ts, dt.UTC)
                             .isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    entry.update(fields)
    entry["ts"] = ts
    for name in ("tokens_in", "tokens_out"):
        if name in entry:
            entry[name] = int(entry[name])
    return entry


def _is_of(fields: dict[str, str], user: str) -> bool:
    """Whether an entry is about `user` (`platform:id`, or a bare id on any platform)."""
    for name in ("user", "target"):
        value = fields.get(name, "")
        if value == user or value.partition(":")[2] == user:
            return True
    return False


class Auditor:
    """Writes and reads the audit stream."""

    def __init__(self, storage: Storage, settings: AuditSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether conversations are recorded."""
        return self._settings.enabled

    async def record(self, kind: str, *, always: bool = False, **fields: object) -> None:
        """One entry (`always` records it even with the audit off: admin actions); storage
        trouble is logged, never raised, so auditing cannot stop an answer."""
        if not (self._settings.enabled or always):
            return
        values = {"ts": f"{self._clock():.3f}", "kind": kind}
        for name, value in fields.items():
            if value is None or value == "":
                continue
            text = str(value)
            values[name] = mask(text) if self._settings.mask and name == "text" else text
        try:
            await self._storage.stream_add(STREAM, values, self._settings.max_entries,
                                           self._settings.retention_days * 86400)
        except StorageUnavailable as exc:
            log.warning("audit: %s entry not recorded: %s", kind, exc)

    async def search(self, user: str = "", q: str = "", since: float = 0.0,
                     limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: entries of `user` (`platform:id` or the bare id) containing `q`."""
        wanted, end, scanned = q.casefold(), "+", 0
        found: list[dict[str, Any]] = []
        start = str(int(since * 1000)) if since else "-"
        while len(found) < limit and scanned < SCAN_LIMIT:
            page = await self._storage.stream_range(STREAM, start, end, PAGE, reverse=True)
            for entry_id, fields in page:
                if user and not _is_of(fields, user):
                    continue
                if wanted and wanted not in fields.get("text", "").casefold():
                    continue
                found.append(_entry(entry_id, fields))
                if len(found) == limit:
                    break
            scanned += len(page)
            if len(page) < PAGE:
                break
            end = f"({page[-1][0]}"
        return found

    async def export(self, since: float, until: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every entry from `since` (to `until`), oldest first, masked again if masking is on."""
        start, end = str(int(since * 1000)), str(int(until * 1000)) if until else "+"
        while True:
            page = await self._storage.stream_range(STREAM, start, end, PAGE)
            for entry_id, fields in page:
                entry = _entry(entry_id, fields)
                if self._settings.mask and "text" in entry:
                    entry["text"] = mask(entry["text"])
                yield entry
            if len(page) < PAGE:
                return
            start = f"({page[-1][0]}"
