"""The in-memory search index of one instance: a normalised float32 matrix of every passage,
reloaded (only the files that changed) when the shared index version moves."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np

from bot.embeddings import Matrix
from bot.knowledge.chunk import Chunk
from bot.knowledge.store import KnowledgeStore, StoredDoc

log = logging.getLogger(__name__)

THREAD_ROWS = 20_000  # above this a search (~1 ms per 10k rows) runs off the event loop


@dataclass(frozen=True, slots=True)
class Hit:
    """One passage found, with its cosine similarity to the query."""

    document: str
    chunk: Chunk
    score: float


def _normalised(vectors: Matrix) -> Matrix:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


def _top(matrix: Matrix, query: Matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = matrix @ query
    k = min(k, scores.size)
    best = np.argpartition(scores, -k)[-k:]
    best = best[np.argsort(-scores[best])]
    return best, scores[best]


class Index:
    """Passages of the documents embedded with `model`, searchable by a query vector."""

    def __init__(self, store: KnowledgeStore, model: str) -> None:
        self._store = store
        self._model = model
        self._docs: dict[str, StoredDoc] = {}
        self._matrix: Matrix = np.zeros((0, 0), dtype=np.float32)
        self._refs: list[tuple[str, Chunk]] = []
        self._version = -1
        self._lock = asyncio.Lock()

    @property
    def size(self) -> int:
        """Passages in memory."""
        return len(self._refs)

    async def refresh(self) -> None:
        """Reload when the shared version moved (one GET otherwise); one reload at a time."""
        version = await self._store.version()
        if version == self._version:
            return
        async with self._lock:
            if version == self._version:
                return
            listed = await self._store.files()
            stale = [p for p, key in listed.items()
                     if p not in self._docs or self._docs[p].key != key]
            docs = {p: d for p, d in self._docs.items() if p in listed}
            for doc in await self._store.load(stale) if stale else []:
                docs[doc.path] = doc
            await asyncio.to_thread(self._rebuild, docs)
            self._version = version
            log.info("knowledge: index version %d, %d passages from %d files", version,
                     self.size, len(docs))

    def _rebuild(self, docs: dict[str, StoredDoc]) -> None:
        usable = [d for d in docs.values() if d.model == self._model and d.chunks]
        widths = {d.vectors.shape[1] for d in usable}
        if len(widths) > 1:  # a sync with another model or size is half done
            width = max(widths, key=lambda w: sum(len(d.chunks) for d in usable
                                                   if d.vectors.shape[1] == w))
            usable = [d for d in usable if d.vectors.shape[1] == width]
        skipped = [d.path for d in docs.values() if d.model != self._model]
        if skipped:
            log.warning("knowledge: %d file(s) were embedded with another model; run kb sync",
                        len(skipped))
        matrix = (np.vstack([d.vectors for d in usable]) if usable
                  else np.zeros((0, 0), dtype=np.float32))
        refs = [(d.path, c) for d in usable for c in d.chunks]
        self._docs, self._matrix, self._refs = docs, _normalised(matrix), refs

    async def search(self, query: Matrix, top_k: int, min_score: float) -> list[Hit]:
        """The `top_k` passages most similar to `query`, at least `min_score`, best first."""
        matrix, refs = self._matrix, self._refs
        if not refs or query.shape[-1] != matrix.shape[1]:
            return []
        vector = _normalised(query.reshape(1, -1))[0]
        if len(refs) > THREAD_ROWS:
            best, scores = await asyncio.to_thread(_top, matrix, vector, top_k)
        else:
            best, scores = _top(matrix, vector, top_k)
        return [Hit(refs[i][0], refs[i][1], float(s))
                for i, s in zip(best.tolist(), scores.tolist(), strict=True) if s >= min_score]
