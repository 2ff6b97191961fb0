"""The shared term list: the words file merged with the runtime changes kept in storage.

Runtime changes (`python -m bot moderation add|remove`) are one versioned set in storage, with
members `+term` (added) and `-term` (removed, which also takes a term of the file out). Every
instance reads the set's version every `refresh_seconds` and rebuilds its matcher only when the
version moved, so a change reaches all of them within a few seconds, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.errors import ConfigError, StorageUnavailable
from bot.moderation.terms import TermMatcher, fold_term
from bot.storage import Storage

log = logging.getLogger(__name__)

KEY = "moderation:terms"


def read_words(path: Path) -> list[str]:
    """One term per line; blank lines and lines starting with `#` are skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"moderation.words_file: cannot read {path}: {exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


class SharedTerms:
    """The current matcher of this instance, kept in step with the shared list."""

    def __init__(self, storage: Storage, words_file: Path | None, refresh_seconds: float) -> None:
        self._storage = storage
        self._words_file = words_file
        self._refresh = refresh_seconds
        self.file_terms: frozenset[str] = frozenset()
        self.added: frozenset[str] = frozenset()
        self.removed: frozenset[str] = frozenset()
        self.matcher = TermMatcher(())
        self.version = -1  # nothing read from storage yet
        self._watcher: asyncio.Task[None] | None = None

    async def start(self, watch: bool = True) -> None:
        """Load the file and the stored changes; then follow the changes in the background."""
        if self._words_file is not None:
            words = await asyncio.to_thread(read_words, self._words_file)
            self.file_terms = frozenset(filter(None, map(fold_term, words)))
        try:
            await self.refresh()
        except StorageUnavailable as exc:
            log.warning("moderation: stored terms not loaded yet (%s); using the file only", exc)
            await self._rebuild()
        if watch:
            self._watcher = asyncio.create_task(self._watch(), name="moderation-terms")

    async def stop(self) -> None:
        """Stop following changes."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def refresh(self) -> bool:
        """Rebuild the matcher if the stored list changed; True when it did."""
        if await self._storage.set_version(KEY) == self.version:
            return False
        version, members = await self._storage.set_read(KEY)
        self.added = frozenset(m[1:] for m in members if m.startswith("+"))
        self.removed = frozenset(m[1:] for m in members if m.startswith("-"))
        await self._rebuild()
        self.version = version
        log.info("moderation: term list version %d, %d terms", version, self.matcher.size)
        return True

    def terms(self) -> frozenset[str]:
        """The terms in force: the file's and the added ones, minus the removed ones."""
        return (self.file_terms | self.added) - self.removed

    async def _rebuild(self) -> None:
        # In a thread: 10,000 terms take a few tens of milliseconds to build (bench/moderation.py).
        self.matcher = await asyncio.to_thread(TermMatcher, self.terms())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self.refresh()
            except StorageUnavailable as exc:
                log.debug("moderation: term list not refreshed: %s", exc)

    async def add(self, terms: Iterable[str]) -> list[str]:
        """Add terms to the shared list (in their folded form, as matched); the ones taken."""
        keys = _keys(terms)
        if keys:
            await self._storage.set_update(KEY, add=[f"+{k}" for k in keys],
                                           remove=[f"-{k}" for k in keys])
        return keys

    async def remove(self, terms: Iterable[str]) -> list[str]:
        """Take terms out of the shared list, file terms included; the ones given."""
        keys = _keys(terms)
        if keys:
            await self._storage.set_update(KEY, add=[f"-{k}" for k in keys],
                                           remove=[f"+{k}" for k in keys])
        return keys

    def listing(self) -> list[tuple[str, str]]:
        """(term, where it comes from) for every term in force, then the removed file terms."""
        rows = [(t, "file" if t in self.file_terms else "added") for t in sorted(self.terms())]
        rows += [(t, "removed") for t in sorted(self.removed & self.file_terms)]
        return rows


def _keys(terms: Iterable[str]) -> list[str]:
    return sorted({key for key in map(fold_term, terms) if key})


def describe(terms: Sequence[str]) -> str:
    """`a, b, c` for a log or a CLI line, shortened past ten terms."""
    shown = ", ".join(terms[:10])
    return shown + (f" and {len(terms) - 10} more" if len(terms) > 10 else "")
