"""The knowledge base as the pipeline and the tools use it: a question in, cited passages out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

from bot.citations import Citations
from bot.feature_settings import KnowledgeSettings
from bot.knowledge.index import Index
from bot.knowledge.store import KnowledgeStore
from bot.llm import LLMClient
from bot.storage import Storage

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000  # a question, not a document: longer text adds cost, not precision


@dataclass(frozen=True, slots=True)
class Passage:
    """A found passage, where it is from, and how close it is to the question."""

    document: str
    section: str
    text: str
    score: float
    url: str = ""


def numbered(citations: Citations, passages: list[Passage]) -> str:
    """Passages as the model reads them: `[n] document › section`, then the text."""
    blocks = []
    for p in passages:
        number = citations.number(p.document, p.section, p.url)
        where = f"{p.document} › {p.section}" if p.section else p.document
        blocks.append(f"[{number}] {where}\n{p.text}")
    return "\n\n".join(blocks)


class KnowledgeBase:
    """Embeds the question, refreshes the shared index when it changed, searches in memory."""

    def __init__(self, settings: KnowledgeSettings, storage: Storage, llm: LLMClient) -> None:
        self.settings = settings
        self._llm = llm
        self.store = KnowledgeStore(storage)
        self.index = Index(self.store, settings.embedding_model)

    def link(self, document: str) -> str:
        """The published URL of a document, when the operator set `knowledge.links`."""
        return self.settings.links + quote(document) if self.settings.links else ""

    async def search(self, query: str, top_k: int | None = None,
                     min_score: float | None = None) -> list[Passage]:
        """The best passages for `query` at or above the threshold (UpstreamError or
        StorageUnavailable when the embeddings endpoint or the shared index cannot be reached)."""
        await self.index.refresh()
        if not query.strip() or not self.index.size:
            return []
        embedded = await self._llm.embed([query[:MAX_QUERY_CHARS]], self.settings.embedding_model,
                                         self.settings.dimensions)
        hits = await self.index.search(
            embedded.vectors[0], top_k or self.settings.top_k,
            self.settings.min_score if min_score is None else min_score)
        return [Passage(h.document, h.chunk.section, h.chunk.text, h.score, self.link(h.document))
                for h in hits]
