"""Knowledge base figures: index time per 1,000 passages against a fake embeddings endpoint, an
instance's reload of the shared index from Redis, and search time and memory at 10k and 100k
passages of 512 dimensions.

    python -m bench.knowledge [--index-chunks 5000] [--sizes 10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from bot.feature_settings import KnowledgeSettings
from bot.knowledge.chunk import Chunk
from bot.knowledge.index import Index
from bot.knowledge.store import KnowledgeStore
from bot.knowledge.sync import Syncer
from bot.llm import OpenAILLM
from bot.metrics import Metrics
from bot.settings import LLMSettings
from bot.storage import RedisStorage
from tests.fakes.server import LoopbackServer
from tests.redis_proc import RedisProcess

DIMS = 512
PARAGRAPH = ("The service keeps every conversation in Redis so that several instances can share "
             "the work, and a retry of the same message is answered once. ")


def fake_embeddings(dims: int) -> web.Application:
    """`POST /v1/embeddings` answering base64 vectors at once (precomputed: its CPU is not ours)."""
    rng = np.random.default_rng(7)
    pool = [base64.b64encode(rng.standard_normal(dims).astype("<f4").tobytes()).decode()
            for _ in range(64)]

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        data = [{"object": "embedding", "index": i, "embedding": pool[i % len(pool)]}
                for i in range(len(body["input"]))]
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": 10 * len(data), "total_tokens": 0}})

    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


def write_documents(folder: Path, chunks: int) -> None:
    """Markdown files of 50 sections each, one passage per section (the chunker's real work)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(chunks // 50):
        sections = [f"## Topic {number}.{s}\n\n{PARAGRAPH * 6}" for s in range(50)]
        (folder / f"doc{number:04d}.md").write_text(f"# Document {number}\n\n" + "\n\n".join(sections),
                                                    encoding="utf-8")


async def index_figures(chunks: int, redis_url: str, batch: int) -> dict[str, Any]:
    """Sync a fresh folder into Redis, then reload it the way a second instance does."""
    fake = await LoopbackServer(fake_embeddings(DIMS)).start()
    storage = RedisStorage(redis_url, prefix="bench:")
    llm = OpenAILLM(LLMSettings(base_url=f"{fake.url}/v1", max_retries=0), Metrics())
    settings = KnowledgeSettings(dir=None, batch_size=batch)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            write_documents(Path(tmp), chunks)
            store = KnowledgeStore(storage)
            started = time.perf_counter()
            report = await Syncer(settings, store, llm).run(Path(tmp))
            sync_s = time.perf_counter() - started
            started = time.perf_counter()
            again = await Syncer(settings, store, llm).run(Path(tmp))
            unchanged_s = time.perf_counter() - started
        index = Index(store, settings.embedding_model)
        started = time.perf_counter()
        await index.refresh()
        reload_s = time.perf_counter() - started
    finally:
        await llm.close()
        await storage.close()
        await fake.close()
    assert report.chunks == index.size == chunks
    assert again.unchanged == chunks // 50
    return {"chunks": chunks, "sync_s": sync_s, "per_1000_s": sync_s / chunks * 1000,
            "unchanged_s": unchanged_s, "reload_s": reload_s}


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def search_figures(size: int, queries: int) -> dict[str, Any]:
    """Search time over an in-memory index of `size` random 512-dimension passages."""
    rng = np.random.default_rng(size)
    before = rss_mib()
    index = Index(KnowledgeStore(None), "m")  # type: ignore[arg-type]  # never reads storage here
    vectors = rng.standard_normal((size, DIMS), dtype=np.float32)
    docs = {"all.md": _doc(vectors)}
    del vectors
    index._rebuild(docs)
    docs.clear()
    grown = rss_mib() - before
    probes = rng.standard_normal((queries, DIMS), dtype=np.float32)
    for probe in probes[:5]:
        await index.search(probe, 4, -1.0)
    times = []
    for probe in probes:
        started = time.perf_counter()
        hits = await index.search(probe, 4, -1.0)
        times.append((time.perf_counter() - started) * 1000)
        assert len(hits) == 4
    times.sort()
    return {"size": size, "matrix_mib": index._matrix.nbytes / 2**20, "rss_growth_mib": grown,
            "mean_ms": statistics.fmean(times), "p50_ms": times[len(times) // 2],
            "p99_ms": times[int(len(times) * 0.99) - 1]}


def _doc(vectors: np.ndarray) -> Any:
    from bot.knowledge.store import StoredDoc

    chunks = tuple(Chunk(f"passage {i}", f"Topic {i}") for i in range(len(vectors)))
    return StoredDoc("all.md", "k", "m", chunks, vectors)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.knowledge")
    parser.add_argument("--index-chunks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp))
        redis.start()
        try:
            figures = await index_figures(args.index_chunks, redis.url, args.batch)
        finally:
            redis.stop()
    print(f"index {figures['chunks']} passages ({DIMS} dims, batches of {args.batch}): "
          f"{figures['sync_s']:.2f} s = {figures['per_1000_s']:.2f} s per 1,000; "
          f"re-sync unchanged {figures['unchanged_s']:.2f} s; "
          f"instance reload from Redis {figures['reload_s']:.2f} s")
    for size in (int(s) for s in args.sizes.split(",")):
        s = await search_figures(size, args.queries)
        print(f"search {s['size']:>7} passages: mean {s['mean_ms']:.2f} ms, p50 {s['p50_ms']:.2f} ms, "
              f"p99 {s['p99_ms']:.2f} ms; matrix {s['matrix_mib']:.0f} MiB, "
              f"RSS growth {s['rss_growth_mib']:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
