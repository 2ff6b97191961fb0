"""The knowledge base's parts: conversion of each file type, cutting by structure, the shared
index and each instance's in-memory copy of it, citations."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bot.citations import Citations
from bot.feature_settings import KnowledgeSettings
from bot.knowledge.chunk import Chunk, chunk
from bot.knowledge.convert import ConversionError, Part, convert
from bot.knowledge.index import Index
from bot.knowledge.store import KnowledgeStore
from bot.storage import MemoryStorage, RedisStorage, Storage
from tests.documents import write_library


@pytest.fixture
def library(tmp_path: Path) -> dict[str, Path]:
    return write_library(tmp_path / "docs")


def sections(path: Path) -> list[tuple[str, str]]:
    return [(c.section, c.text) for c in chunk(convert(path, path.read_bytes()), 1200, 200)]


def test_markdown_passages_carry_their_heading_path(library: dict[str, Path]) -> None:
    assert ("Handbook › Refunds", "Refunds are paid within 30 days of the purchase, to the "
            "original card.") in sections(library["md"])


def test_plain_text_is_one_passage_without_a_heading(library: dict[str, Path]) -> None:
    assert sections(library["txt"]) == [("", "Parking is free behind the building for customers.")]


def test_html_headings_are_kept_and_scripts_dropped(library: dict[str, Path]) -> None:
    assert sections(library["html"]) == [("Shipping", "Parcels ship by courier in two working days.")]


def test_pdf_passages_are_cited_by_page(library: dict[str, Path]) -> None:
    assert sections(library["pdf"]) == [
        ("p. 1", "Safety: unplug the kettle before cleaning it."),
        ("p. 2", "Descaling: use vinegar once a month.")]


def test_docx_headings_and_tables_survive(library: dict[str, Path]) -> None:
    [(section, text)] = sections(library["docx"])
    assert section == "Warranty › Coverage"
    assert text.startswith("The warranty covers two years of repairs.")
    assert "| basic | 10 yuan |" in text


def test_a_broken_pdf_is_a_conversion_error(tmp_path: Path) -> None:
    with pytest.raises(ConversionError):
        convert(tmp_path / "x.pdf", b"%PDF-1.4 not really")


def test_a_broken_docx_is_a_conversion_error(tmp_path: Path) -> None:
    with pytest.raises(ConversionError):
        convert(tmp_path / "x.docx", b"not a zip file")


def test_a_long_section_is_cut_at_paragraphs_with_overlap() -> None:
    paragraphs = [f"Paragraph {n} says something quite specific about topic {n}." for n in range(12)]
    passages = chunk([Part("# Topic\n\n" + "\n\n".join(paragraphs))], 300, 80)
    assert len(passages) > 2
    assert all(len(p.text) <= 300 for p in passages)
    assert all(p.section == "Topic" for p in passages)
    for before, after in itertools.pairwise(passages):
        assert after.text.split("\n\n")[0] in before.text  # the last paragraph is carried over


def test_a_heading_inside_a_code_block_is_not_a_heading() -> None:
    passages = chunk([Part("# Setup\n\n```\n# a comment\n\nrun it\n```")], 1200, 100)
    assert passages == [Chunk("```\n# a comment\n\nrun it\n```", "Setup")]


def test_a_sentence_longer_than_a_passage_is_cut_hard() -> None:
    passages = chunk([Part("x" * 1000)], 300, 50)
    assert all(len(p.text) <= 300 for p in passages)
    assert "".join(p.text.replace("\n\n", "") for p in passages).count("x") >= 1000


def test_citations_number_each_place_once() -> None:
    citations = Citations()
    assert [citations.number("a.md", "One"), citations.number("b.md", ""),
            citations.number("a.md", "One")] == [1, 2, 1]


def test_sources_are_the_cited_ones_or_all_when_none_is_cited() -> None:
    citations = Citations()
    citations.number("a.md", "One")
    citations.number("b.md", "Two", "https://docs.test/b.md")
    assert [s.number for s in citations.sources("As [2] says.")] == [2]
    assert [s.document for s in citations.sources("No marks.")] == ["a.md", "b.md"]


def vectors(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[KnowledgeStore]:
    storage: Storage = MemoryStorage()
    if request.param == "redis":
        storage = RedisStorage(request.getfixturevalue("redis_url"), prefix="kbtest:")
    yield KnowledgeStore(storage)
    await storage.close()


async def test_search_ranks_by_cosine_similarity_and_applies_the_threshold(
    store: KnowledgeStore
) -> None:
    await store.put("a.md", "k1", "m", [Chunk("east", "E"), Chunk("north", "N")],
                    vectors([1, 0], [0, 1]))
    index = Index(store, "m")
    await index.refresh()
    hits = await index.search(vectors([0.9, 0.1])[0], top_k=2, min_score=0.5)
    assert [(h.chunk.text, round(h.score, 2)) for h in hits] == [("east", 0.99)]


async def test_another_instances_write_is_seen_after_the_version_moves(store: KnowledgeStore) -> None:
    index = Index(store, "m")
    await index.refresh()
    assert index.size == 0
    await store.put("a.md", "k1", "m", [Chunk("one")], vectors([1, 0]))
    await index.refresh()
    assert index.size == 1
    await store.drop(["a.md"])
    await index.refresh()
    assert index.size == 0


async def test_a_reload_reads_only_the_files_that_changed(store: KnowledgeStore) -> None:
    await store.put("a.md", "k1", "m", [Chunk("a")], vectors([1, 0]))
    await store.put("b.md", "k1", "m", [Chunk("b")], vectors([0, 1]))
    index = Index(store, "m")
    await index.refresh()
    loaded: list[list[str]] = []
    original = store.load

    async def counting(paths: list[str]) -> list:  # type: ignore[type-arg]
        loaded.append(list(paths))
        return await original(paths)

    store.load = counting  # type: ignore[method-assign, assignment]
    await store.put("b.md", "k2", "m", [Chunk("b2")], vectors([0, 1]))
    await index.refresh()
    assert loaded == [["b.md"]]
    assert sorted(c.text for _, c in index._refs) == ["a", "b2"]


async def test_files_embedded_with_another_model_are_not_searched(store: KnowledgeStore) -> None:
    await store.put("old.md", "k", "old-model", [Chunk("old")], vectors([1, 0, 0]))
    await store.put("new.md", "k", "m", [Chunk("new")], vectors([1, 0]))
    index = Index(store, "m")
    await index.refresh()
    assert [h.chunk.text for h in await index.search(vectors([1, 0])[0], 5, -1)] == ["new"]


def test_knowledge_settings_refuse_an_overlap_of_half_a_passage() -> None:
    from bot.config import Section
    from bot.errors import ConfigError
    from bot.feature_settings import knowledge_settings

    with pytest.raises(ConfigError, match="overlap_chars"):
        knowledge_settings(Section({"chunk_chars": 400, "overlap_chars": 200}, "knowledge", {}))
    assert knowledge_settings(Section({}, "knowledge", {})) == KnowledgeSettings()
