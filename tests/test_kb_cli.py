"""`python -m bot kb sync | search` as real subprocesses, against the fake embeddings endpoint
and a private Redis: every file type, then a change, then a deletion."""

from __future__ import annotations

from pathlib import Path

from tests.cli_run import environment, run, spawn
from tests.documents import write_library
from tests.fakes.openai import FakeOpenAI


def embedded_texts(fake: FakeOpenAI) -> list[str]:
    return [text for body in fake.embedded for text in body["input"]]


async def test_kb_sync_indexes_each_file_type_then_only_a_change_then_a_deletion(
    fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    files = write_library(tmp_path / "docs")
    env = environment(fake_openai, REDIS_URL=redis_url, KNOWLEDGE_DIR=str(tmp_path / "docs"))
    code, out, err = await run("kb", "sync", env=env)
    assert (code, err) == (0, "")
    assert "kb sync: 5 added, 0 changed, 0 deleted, 0 unchanged, 0 failed; 8 passages" in out
    assert {text.split("\n")[0] for text in embedded_texts(fake_openai)} == {
        "handbook.md › Handbook", "handbook.md › Handbook › Refunds",
        "handbook.md › Handbook › Opening hours", "notes.txt", "shipping.html › Shipping",
        "manual.pdf › p. 1", "manual.pdf › p. 2", "warranty.docx › Warranty › Coverage"}

    fake_openai.embedded.clear()
    files["txt"].write_text("Parking costs two yuan an hour now.", encoding="utf-8")
    code, out, _ = await run("kb", "sync", env=env)
    assert "kb sync: 0 added, 1 changed, 0 deleted, 4 unchanged, 0 failed; 1 passages" in out
    assert embedded_texts(fake_openai) == ["notes.txt\n\nParking costs two yuan an hour now."]

    files["html"].unlink()
    code, out, _ = await run("kb", "sync", env=env)
    assert "kb sync: 0 added, 0 changed, 1 deleted, 4 unchanged, 0 failed; 0 passages" in out


async def test_kb_search_prints_file_heading_and_score(
    fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    write_library(tmp_path / "docs")
    env = environment(fake_openai, REDIS_URL=redis_url, KNOWLEDGE_DIR=str(tmp_path / "docs"))
    await spawn("kb", "sync", env=env)
    code, out, _ = await spawn("kb", "search", "when are refunds paid to the card", "--top", "2",
                               env=env)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("1. 0.")
    assert first.endswith("handbook.md › Handbook › Refunds")
    assert "Refunds are paid within 30 days" in out.splitlines()[1]
    assert out.count("\n") == 4  # two passages, two lines each


async def test_kb_sync_reports_a_file_it_cannot_read_and_indexes_the_rest(
    fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    write_library(tmp_path / "docs")
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    env = environment(fake_openai, REDIS_URL=redis_url, KNOWLEDGE_DIR=str(tmp_path / "docs"))
    code, out, err = await run("kb", "sync", env=env)
    assert code == 1
    assert "skipped broken.pdf: not a readable PDF" in err
    assert "5 added" in out


async def test_kb_sync_without_a_folder_says_how_to_set_one(fake_openai: FakeOpenAI) -> None:
    code, _, err = await run("kb", "sync", env=environment(fake_openai))
    assert code == 2
    assert "knowledge.dir (KNOWLEDGE_DIR) is not set" in err


async def test_kb_sync_stops_with_a_clear_line_when_embeddings_fail(
    fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    write_library(tmp_path / "docs")
    fake_openai.embedding_fail_next = [401] * 10
    env = environment(fake_openai, REDIS_URL=redis_url, KNOWLEDGE_DIR=str(tmp_path / "docs"))
    code, _, err = await run("kb", "sync", env=env)
    assert code == 1
    assert err.startswith("kb sync failed: AuthenticationError status=401")
