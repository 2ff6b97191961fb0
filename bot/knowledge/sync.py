"""`kb sync`: index only the files that are new or changed (by content hash), drop the deleted
ones; each file is written with its passages and vectors in one atomic step, so a sync cut short
leaves a consistent index that the next run completes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.errors import ConfigError
from bot.feature_settings import KnowledgeSettings
from bot.knowledge.chunk import CHUNKER_VERSION, Chunk, chunk
from bot.knowledge.convert import SUFFIXES, ConversionError, convert
from bot.knowledge.store import KnowledgeStore
from bot.llm import LLMClient

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 << 20
CONCURRENT_BATCHES = 4  # embeddings requests in flight


@dataclass
class SyncReport:
    """What a sync did, file by file and in passages."""

    added: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Pending:
    path: str
    key: str
    chunks: list[Chunk]


def index_key(data: bytes, settings: KnowledgeSettings) -> str:
    """The content hash, salted with everything that changes the passages or their vectors."""
    digest = hashlib.sha256(data)
    digest.update(f"\0{settings.embedding_model}\0{settings.dimensions}\0{settings.chunk_chars}"
                  f"\0{settings.overlap_chars}\0{CHUNKER_VERSION}".encode())
    return digest.hexdigest()


def documents(folder: Path) -> list[Path]:
    """The supported files under `folder`, hidden ones left out, in a stable order."""
    if not folder.is_dir():
        raise ConfigError(f"knowledge.dir: {folder} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _read(folder: Path, path: Path, settings: KnowledgeSettings) -> tuple[str, bytes]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConversionError(f"larger than {MAX_FILE_BYTES >> 20} MiB")
    data = path.read_bytes()
    return index_key(data, settings), data


class Syncer:
    """Brings the shared index in line with the folder."""

    def __init__(self, settings: KnowledgeSettings, store: KnowledgeStore, llm: LLMClient) -> None:
        self._s = settings
        self._store = store
        self._llm = llm

    async def run(self, folder: Path, progress: Callable[[int, int], None] | None = None
                  ) -> SyncReport:
        """Sync; `progress(done, total)` is called as passages are embedded."""
        report = SyncReport()
        indexed = await self._store.files()
        pending = await asyncio.to_thread(self._prepare, folder, indexed, report)
        gone = [path for path in indexed if not (folder / path).is_file()
                or Path(path).suffix.lower() not in SUFFIXES]
        gone = [path for path in gone if path not in {p.path for p in pending}]
        if gone:
            await self._store.drop(gone)
            report.deleted = len(gone)
        total, done = sum(len(p.chunks) for p in pending), 0
        slots = asyncio.Semaphore(CONCURRENT_BATCHES)

        def advance(count: int) -> None:
            nonlocal done
            done += count
            if progress is not None:
                progress(done, total)

        try:
            async with asyncio.TaskGroup() as group:  # one failure stops the others
                for doc in pending:
                    group.create_task(self._index(doc, slots, advance))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None  # the files written so far stay indexed
        report.chunks = total
        return report

    def _prepare(self, folder: Path, indexed: dict[str, str], report: SyncReport) -> list[_Pending]:
        """Read, hash, convert and cut the new and changed files (CPU work: off the loop)."""
        pending = []
        for path in documents(folder):
            name = path.relative_to(folder).as_posix()
            try:
                key, data = _read(folder, path, self._s)
                if indexed.get(name) == key:
                    report.unchanged += 1
                    continue
                chunks = chunk(convert(path, data), self._s.chunk_chars, self._s.overlap_chars)
            except (ConversionError, OSError) as exc:
                report.failed.append((name, str(exc)))
                log.warning("kb sync: skipping %s: %s", name, exc)
                continue
            if name in indexed:
                report.changed += 1
            else:
                report.added += 1
            pending.append(_Pending(name, key, chunks))
        return pending

    async def _index(self, doc: _Pending, slots: asyncio.Semaphore,
                     advance: Callable[[int], None]) -> None:
        size = self._s.batch_size
        batches = [doc.chunks[i:i + size] for i in range(0, len(doc.chunks), size)]

        async def embed(batch: list[Chunk]) -> np.ndarray:
            async with slots:
                result = await self._llm.embed([c.embedding_input(doc.path) for c in batch],
                                               self._s.embedding_model, self._s.dimensions)
            advance(len(batch))
            return result.vectors

        parts = await asyncio.gather(*(embed(b) for b in batches))
        vectors = np.vstack(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        await self._store.put(doc.path, doc.key, self._s.embedding_model, doc.chunks, vectors)
