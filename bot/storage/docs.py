"""Optimistic updates of versioned documents: compute the change in Python, swap it atomically.

`update` applies a pure function to the current documents and writes its result only if nobody
wrote them meanwhile (compare-and-swap on their etags); when someone did, it recomputes on what
is there now. The function is therefore the single definition of a transition, the same on every
backend and easy to test on its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.errors import StorageUnavailable
from bot.storage.base import Doc, Put, Storage

T = TypeVar("T")

Change = Callable[[Sequence[Doc]], tuple[Sequence[str | None] | None, T]]
"""Given the current documents: (the new value of each, None to delete it; or None to write
nothing) and the caller's result."""

MAX_TRIES = 32  # conflicts in a row before giving up (only under pathological contention)


def new_etag() -> str:
    """A fresh etag: random, so an old etag never matches a re-created document."""
    return os.urandom(8).hex()


async def update(storage: Storage, keys: Sequence[str], change: Change[T],
                 ttls: Sequence[float | None],
                 known: Sequence[Doc] | None = None) -> tuple[T, list[Doc]]:
    """Apply `change` atomically (each key written with its `ttls` item); returns its result and
    the documents as they are after it.

    `known` saves the first read when the caller just got the documents, or can guess them (e.g.
    `Doc(key, "", None)`: most likely absent): a stale copy costs one more round trip, never a
    wrong write, because the swap fails and answers what is there. A decision to write nothing
    is only ever taken on documents storage answered: on `known` ones it reads them first.
    """
    docs = list(known) if known is not None else await storage.read_docs(keys)
    answered = known is None
    for _ in range(MAX_TRIES):
        values, result = change(docs)
        if values is None:
            if answered:
                return result, docs
            docs, answered = await storage.read_docs(keys), True
            continue
        puts = [Put(doc.key, doc.etag, value, ttl)
                for doc, value, ttl in zip(docs, values, ttls, strict=True)]
        written, docs = await storage.swap_docs(puts, [new_etag() for _ in puts])
        answered = True
        if written:
            return result, docs
    raise StorageUnavailable(f"storage: {len(keys)} document(s) changed {MAX_TRIES} times in a row")
