"""The shared index in storage: three hashes and a version counter under one `{kb}` hash tag, so
every write (a file's passages and vectors, its content key, the version) is one MULTI on one
Redis Cluster slot.

- `{kb}:files`   path → the file's index key (content hash + model + cutting rule)
- `{kb}:docs`    path → JSON `{"key", "model", "chunks": [[section, text], …]}`
- `{kb}:vectors` path → base64 of the float32 matrix, one row per chunk
- `{kb}:version` incremented by every write; instances reload when it moves
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.embeddings import Matrix
from bot.knowledge.chunk import Chunk
from bot.storage import Storage

FILES, DOCS, VECTORS, VERSION = "{kb}:files", "{kb}:docs", "{kb}:vectors", "{kb}:version"


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """One indexed file as an instance loads it."""

    path: str
    key: str
    model: str
    chunks: tuple[Chunk, ...]
    vectors: Matrix


class KnowledgeStore:
    """Reads and writes the shared index through the `Storage` port."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def version(self) -> int:
        """The index version (0 before the first sync)."""
        return int(await self._storage.get(VERSION) or 0)

    async def files(self) -> dict[str, str]:
        """path → index key of every indexed file."""
        return await self._storage.hash_all(FILES)

    async def put(self, path: str, key: str, model: str, chunks: Sequence[Chunk],
                  vectors: Matrix) -> int:
        """Replace one file's passages and vectors atomically; the new version."""
        doc = json.dumps({"key": key, "model": model,
                          "chunks": [[c.section, c.text] for c in chunks]}, ensure_ascii=False)
        packed = base64.b64encode(np.ascontiguousarray(vectors, dtype="<f4").tobytes()).decode()
        return await self._storage.hash_update(
            [(FILES, {path: key}), (DOCS, {path: doc}), (VECTORS, {path: packed})], VERSION)

    async def drop(self, paths: Sequence[str]) -> int:
        """Forget files atomically; the new version."""
        gone: dict[str, str | None] = dict.fromkeys(paths)
        return await self._storage.hash_update(
            [(FILES, gone), (DOCS, gone), (VECTORS, gone)], VERSION)

    async def load(self, paths: Sequence[str]) -> list[StoredDoc]:
        """Files' passages and vectors, read together in one atomic round trip."""
        docs, vectors = await self._storage.hash_get([(DOCS, paths), (VECTORS, paths)])
        loaded = []
        for path, doc, packed in zip(paths, docs, vectors, strict=True):
            if doc is None or packed is None:
                continue  # dropped since the listing; the next version says so
            record = json.loads(doc)
            chunks = tuple(Chunk(text, section) for section, text in record["chunks"])
            matrix = np.frombuffer(base64.b64decode(packed), dtype="<f4").astype(np.float32)
            width = matrix.size // len(chunks) if chunks else 0
            loaded.append(StoredDoc(path, record["key"], record["model"], chunks,
                                    matrix.reshape(len(chunks), width)))
        return loaded
