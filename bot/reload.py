"""Reloading the presets on every instance: a generation document that every instance watches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from bot.errors import StorageUnavailable
from bot.prompts import Presets
from bot.storage import Doc, Storage
from bot.storage.docs import update

log = logging.getLogger(__name__)

GENERATION = "presets:generation"
FOREVER = 10 * 365 * 86400.0
POLL = 30.0  # re-read at least this often (the change feed may have been down)


class PresetReloader:
    """`announce()` reloads here and tells the others; `start()` listens for the others."""

    def __init__(self, presets: Presets, storage: Storage) -> None:
        self._presets = presets
        self._storage = storage
        self._seen = 0
        self._etag = ""
        self._task: asyncio.Task[None] | None = None

    async def announce(self) -> int:
        """Reload this instance's presets and raise the next generation for every instance."""
        self._presets.reload()

        def bump(docs: Sequence[Doc]) -> tuple[list[str | None], int]:
            generation = int(docs[0].value or 0) + 1
            return [str(generation)], generation

        generation, docs = await update(self._storage, [GENERATION], bump, [FOREVER])
        self._seen, self._etag = max(self._seen, generation), docs[0].etag
        log.info("prompts: reloaded (generation %d): %s", generation, ", ".join(self._presets.names()))
        return generation

    async def start(self) -> None:
        """Begin listening (the generation now current counts as already loaded)."""
        with contextlib.suppress(StorageUnavailable):
            [doc] = await self._storage.read_docs([GENERATION])
            self._seen, self._etag = int(doc.value or 0), doc.etag
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
                doc = await self._storage.wait_change(GENERATION, self._etag, POLL)
            except StorageUnavailable:
                await asyncio.sleep(5.0)
                continue
            self._etag = doc.etag
            current = int(doc.value or 0)
            if current > self._seen:
                self._seen = current
                names = self._presets.reload()
                log.info("prompts: reloaded by another instance (generation %d): %s",
                         current, ", ".join(names))
