"""Reloading the presets on every instance: a generation counter and a signal in storage."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.errors import StorageUnavailable
from bot.prompts import Presets
from bot.storage import Storage

log = logging.getLogger(__name__)

GENERATION = "presets:generation"
FOREVER = 10 * 365 * 86400.0
POLL = 30.0  # a missed signal (storage was down) is caught up within this


class PresetReloader:
    """`announce()` reloads here and tells the others; `start()` listens for the others."""

    def __init__(self, presets: Presets, storage: Storage) -> None:
        self._presets = presets
        self._storage = storage
        self._seen = 0
        self._task: asyncio.Task[None] | None = None

    async def announce(self) -> int:
        """Reload this instance's presets and raise the next generation for every instance."""
        self._presets.reload()
        generation = await self._storage.incr(GENERATION, FOREVER)
        self._seen = max(self._seen, generation)
        await self._storage.notify(f"presets:reload:{generation}", 3600.0)
        log.info("prompts: reloaded (generation %d): %s", generation, ", ".join(self._presets.names()))
        return generation

    async def start(self) -> None:
        """Begin listening (the generation now current counts as already loaded)."""
        with contextlib.suppress(StorageUnavailable):
            self._seen = int(await self._storage.get(GENERATION) or 0)
        self._task = asyncio.create_task(self._listen(), name="presets-reload")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            try:
                await self._storage.wait(f"presets:reload:{self._seen + 1}", POLL)
                current = int(await self._storage.get(GENERATION) or 0)
            except StorageUnavailable:
                await asyncio.sleep(5.0)
                continue
            if current > self._seen:
                self._seen = current
                names = self._presets.reload()
                log.info("prompts: reloaded by another instance (generation %d): %s",
                         current, ", ".join(names))
