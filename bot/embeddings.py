"""Embedding vectors as the OpenAI embeddings API returns them (`POST /embeddings`)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.errors import ErrorKind, UpstreamError

Matrix = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True, slots=True)
class Embeddings:
    """Vectors for a batch of texts (float32, one row per text, in input order) and their cost."""

    vectors: Matrix
    prompt_tokens: int = 0


def _vector(value: Any) -> Matrix:
    """One embedding: base64 little-endian float32, or a list of floats (backends that ignore
    `encoding_format`)."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f4").astype(np.float32)
    return np.asarray(value, dtype=np.float32)


def embeddings_of(result: Any, count: int) -> Embeddings:
    """The vectors of an embeddings body in input order, checked for count and shape."""
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise UpstreamError(f"embeddings: expected {count} vectors", kind=ErrorKind.LLM_SERVER)
    ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
    vectors = [_vector(item.get("embedding")) for item in ordered]
    if len({v.shape for v in vectors}) != 1 or vectors[0].ndim != 1 or not vectors[0].size:
        raise UpstreamError("embeddings: vectors of different or empty sizes", kind=ErrorKind.LLM_SERVER)
    usage = result.get("usage") or {}
    tokens = int(usage.get("prompt_tokens") or 0) if isinstance(usage, dict) else 0
    return Embeddings(np.vstack(vectors), tokens)
