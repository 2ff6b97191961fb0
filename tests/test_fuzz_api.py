"""Bad input to `/api/chat` and `/v1/chat/completions`, property-based: never a 5xx, never a hang.

Random JSON shapes, random bytes, wrong content types, truncated and huge bodies, deep nesting.
Each is answered 4xx with a JSON error body (200 only for a body that happens to be a valid chat
request); the server's memory stays bounded over the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import API_KEY
from tests.fuzz_server import FUZZ, RSS_GROWTH_KIB, FuzzTarget, check_refused, fuzz_target

PATHS = ("/api/chat", "/v1/chat/completions")
AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
# Objects with the real field names and wrongly typed values are the interesting shapes.
chat_like = st.fixed_dictionaries({}, optional={
    "user": json_values, "text": json_values, "stream": json_values, "async": json_values,
    "model": json_values, "messages": json_values, "max_tokens": json_values,
})


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    with fuzz_target(tmp_path_factory.mktemp("fuzz-api"), {}) as running:
        yield running


def deep(depth: int, kind: str) -> bytes:
    return (kind[0] * depth + kind[1] * depth).encode()


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(value=json_values | chat_like)
def test_any_json_shape_is_answered_without_a_server_error(target: FuzzTarget, path: str,
                                                           value: Any) -> None:
    body = json.dumps(value).encode()
    response = target.post(path, body, AUTH)
    check_refused(response, allowed_ok=True)


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(body=st.binary(max_size=2048), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "multipart/form-data"]))
def test_random_bytes_are_refused(target: FuzzTarget, path: str, body: bytes,
                                  content_type: str) -> None:
    response = target.post(path, body, {**AUTH, "Content-Type": content_type})
    check_refused(response, allowed_ok=body.strip().startswith(b"{"))


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(cut=st.integers(min_value=0, max_value=60))
def test_truncated_bodies_are_refused(target: FuzzTarget, path: str, cut: int) -> None:
    whole = json.dumps({"user": "fuzz", "text": "hello", "model": "gpt-4o-mini",
                        "messages": [{"role": "user", "content": "hello"}]}).encode()
    response = target.post(path, whole[:cut] if cut < len(whole) else whole[:-1], AUTH)
    check_refused(response)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
@pytest.mark.parametrize("kind", ["[]", "{}"])
def test_deeply_nested_json_is_refused(target: FuzzTarget, path: str, depth: int, kind: str) -> None:
    body = deep(depth, kind) if kind == "[]" else ('{"a":' * depth + "1" + "}" * depth).encode()
    check_refused(target.post(path, body, AUTH))


@pytest.mark.parametrize("path", PATHS)
def test_a_body_over_the_size_limit_is_refused_with_413(target: FuzzTarget, path: str) -> None:
    body = json.dumps({"user": "fuzz", "text": "x" * (2 << 20)}).encode()
    response = target.post(path, body, AUTH)
    assert response.status_code == 413


@pytest.mark.parametrize("path", PATHS)
@FUZZ
@given(token=st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=40))
def test_wrong_bearer_keys_are_refused(target: FuzzTarget, path: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = target.post(path, b'{"user": "u", "text": "hi"}', headers)
    check_refused(response, allowed_ok=token.strip() == API_KEY)


def test_memory_stays_bounded_over_the_run(target: FuzzTarget) -> None:
    growth = target.proc.rss_kib() - target.rss_before
    print(f"fuzz api: {len(target.tried)} requests, RSS grew {growth} KiB")  # noqa: T201
    assert growth < RSS_GROWTH_KIB
