"""Bad input to `POST /feishu/events`, property-based: never a 5xx, never a hang.

Random bytes, wrong content types, deep nesting, broken ciphertext, bad signatures and stale
timestamps: each is refused with a 4xx and a JSON body saying why.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.feishu.crypto import signature
from tests.fakes.feishu import APP_ID, APP_SECRET, ENCRYPT_KEY, TOKEN, encrypted_request, message_event
from tests.fuzz_server import FUZZ, RSS_GROWTH_KIB, FuzzTarget, check_refused, fuzz_target

PATH = "/feishu/events"
# The fake Open API is not running: nothing here may get as far as a reply.
ENV = {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_VERIFICATION_TOKEN": TOKEN,
       "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY, "FEISHU_BASE_URL": "http://127.0.0.1:9"}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    with fuzz_target(tmp_path_factory.mktemp("fuzz-feishu"), ENV) as running:
        yield running


def signed_headers(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts, nonce = str(int(time.time()) if timestamp is None else timestamp), "n"
    return {"Content-Type": "application/json", "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": signature(ts, nonce, ENCRYPT_KEY, body)}


@FUZZ
@given(body=st.binary(max_size=4096), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/xml", "", "multipart/form-data; boundary=x"]),
    sign=st.booleans())
def test_random_bytes_are_refused(target: FuzzTarget, body: bytes, content_type: str,
                                  sign: bool) -> None:
    headers = signed_headers(body) if sign else {}
    headers["Content-Type"] = content_type
    check_refused(target.post(PATH, body, headers))


@pytest.mark.parametrize("depth", [100, 10_000, 200_000])
@pytest.mark.parametrize("where", ["body", "ciphertext"])
def test_deeply_nested_json_is_refused(target: FuzzTarget, depth: int, where: str) -> None:
    nested = '{"a":' * depth + "1" + "}" * depth
    if where == "body":
        body = nested.encode()
        headers = signed_headers(body)
    else:  # inside a correctly encrypted and signed callback (a leaked key must not crash us)
        from adapters.feishu.crypto import encrypt

        body = json.dumps({"encrypt": encrypt(ENCRYPT_KEY, nested)}).encode()
        headers = signed_headers(body)
    check_refused(target.post(PATH, body, headers))


@FUZZ
@given(encrypt=st.one_of(
    st.text(max_size=200),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=1, max_size=300).map(lambda b: base64.b64encode(b).decode()[:-2]),
    st.integers() | st.none() | st.lists(st.integers(), max_size=3),
))
def test_broken_ciphertext_is_refused(target: FuzzTarget, encrypt: Any) -> None:
    body = json.dumps({"encrypt": encrypt}).encode()
    check_refused(target.post(PATH, body, signed_headers(body)))


@FUZZ
@given(sig=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=64),
       stamp=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12))
def test_bad_signatures_are_refused(target: FuzzTarget, sig: str, stamp: str) -> None:
    body, headers = encrypted_request(message_event("hi"))
    headers.update({"X-Lark-Signature": sig, "X-Lark-Request-Timestamp": stamp or "0"})
    check_refused(target.post(PATH, body, headers))


@FUZZ
@given(age=st.integers(min_value=301, max_value=10**10), future=st.booleans())
def test_stale_timestamps_are_refused(target: FuzzTarget, age: int, future: bool) -> None:
    stamp = int(time.time()) + (age if future else -age)
    body, headers = encrypted_request(message_event("hi"), timestamp=stamp)
    response = target.post(PATH, body, headers)
    assert response.status_code == 401


@FUZZ
@given(payload=st.dictionaries(st.sampled_from(["type", "schema", "header", "event", "token",
                                                "challenge", "uuid"]),
                               st.none() | st.integers() | st.text(max_size=20)
                               | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
                               max_size=5))
def test_signed_payloads_of_any_shape_get_no_server_error(target: FuzzTarget,
                                                          payload: dict[str, Any]) -> None:
    body, headers = encrypted_request(payload)
    check_refused(target.post(PATH, body, headers), allowed_ok=True)


def test_memory_stays_bounded_over_the_run(target: FuzzTarget) -> None:
    growth = target.proc.rss_kib() - target.rss_before
    print(f"fuzz feishu: {len(target.tried)} requests, RSS grew {growth} KiB")  # noqa: T201
    assert growth < RSS_GROWTH_KIB
