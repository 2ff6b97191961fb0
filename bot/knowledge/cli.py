"""`python -m bot kb sync [--dir DIR]` and `python -m bot kb search "QUERY"`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm

from bot.errors import ConfigError, StorageUnavailable, UpstreamError
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.sync import Syncer
from bot.llm import OpenAILLM
from bot.metrics import Metrics
from bot.settings import Settings
from bot.storage import open_storage


def _folder(settings: Settings, override: Path | None) -> Path:
    folder = override or settings.knowledge.dir
    if folder is None:
        raise ConfigError("knowledge.dir (KNOWLEDGE_DIR) is not set; or pass --dir DIR")
    return folder


async def kb_sync(settings: Settings, override: Path | None) -> int:
    """Index new and changed files, drop deleted ones; counts on stdout, a bar on a terminal."""
    folder = _folder(settings, override)
    storage = open_storage(settings.storage)
    llm = OpenAILLM(settings.llm, Metrics())
    bar = tqdm(total=0, unit="passage", desc="embedding", file=sys.stderr,
               disable=not sys.stderr.isatty())

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    started = time.monotonic()
    try:
        kb = KnowledgeBase(settings.knowledge, storage, llm)
        report = await Syncer(settings.knowledge, kb.store, llm).run(folder, progress)
    except (UpstreamError, StorageUnavailable) as exc:
        print(f"kb sync failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
        await llm.close()
        await storage.close()
    for name, reason in report.failed:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    print(f"kb sync: {report.added} added, {report.changed} changed, {report.deleted} deleted, "
          f"{report.unchanged} unchanged, {len(report.failed)} failed; "
          f"{report.chunks} passages embedded in {time.monotonic() - started:.1f} s")
    return 1 if report.failed else 0


async def kb_search(settings: Settings, query: str, top: int | None) -> int:
    """Print the best passages with file, heading and score."""
    storage = open_storage(settings.storage)
    llm = OpenAILLM(settings.llm, Metrics())
    try:
        kb = KnowledgeBase(settings.knowledge, storage, llm)
        passages = await kb.search(query, top_k=top, min_score=-1.0)
    except (UpstreamError, StorageUnavailable) as exc:
        print(f"kb search failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await llm.close()
        await storage.close()
    if not passages:
        print("no passages: run `python -m bot kb sync` first")
        return 0
    threshold = settings.knowledge.min_score
    for number, p in enumerate(passages, 1):
        mark = "" if p.score >= threshold else f" (below min_score {threshold})"
        where = f"{p.document} › {p.section}" if p.section else p.document
        snippet = " ".join(p.text.split())
        print(f"{number}. {p.score:.3f}{mark}  {where}\n   {snippet[:300]}")
    return 0
