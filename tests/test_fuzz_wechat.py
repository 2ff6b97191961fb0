"""Bad input to `POST /wechat`, property-based: plain and safe mode, never a 5xx, never a hang.

Random bytes, truncated XML, DTDs, external entities and entity bombs, broken base64 and AES
padding, wrong and stale signatures: each is refused with a 4xx and a body saying why.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from Crypto.Cipher import AES
from hypothesis import given
from hypothesis import strategies as st

from adapters.wechat.verify import sign
from tests.fakes.wechat import AES_KEY, APP_ID, TOKEN, WeChatPusher, text_xml
from tests.fuzz_server import FUZZ, RSS_GROWTH_KIB, FuzzTarget, check_refused, fuzz_target

ENV = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_ENCODING_AES_KEY": AES_KEY}
BOMBS = [
    '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<xml><Content>&d;&d;&d;&d;</Content></xml>",
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>&xxe;</ToUserName><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>",
    '<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><xml/>',
    '<!doctype xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml/>',
    "<xml><Content>&lt;&#x41;&unknown;</Content></xml>",
    "<?xml-stylesheet href='http://127.0.0.1:1/x'?><xml>",
]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    with fuzz_target(tmp_path_factory.mktemp("fuzz-wechat"), ENV) as running:
        yield running


def signed(timestamp: str | None = None, nonce: str = "123456") -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    return {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def safe_query(encrypt: str) -> dict[str, str]:
    query = signed()
    query.update(encrypt_type="aes",
                 msg_signature=sign(TOKEN, query["timestamp"], query["nonce"], encrypt))
    return query


def envelope(encrypt: str) -> bytes:
    return f"<xml><ToUserName>gh_x</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()


@FUZZ
@given(body=st.binary(max_size=4096))
def test_random_bytes_with_a_good_signature_are_refused(target: FuzzTarget, body: bytes) -> None:
    check_refused(target.post("/wechat", body, params=signed()))


@FUZZ
@given(cut=st.integers(min_value=0, max_value=250), extra=st.sampled_from(["", "<", "<xml>", "]]>"]))
def test_truncated_xml_is_refused(target: FuzzTarget, cut: int, extra: str) -> None:
    whole = text_xml("hello")
    body = (whole[:min(cut, len(whole) - 1)] + extra).encode()
    check_refused(target.post("/wechat", body, params=signed()))


@FUZZ
@given(bomb=st.sampled_from(BOMBS), prefix=st.sampled_from(["", " ", "\ufeff", "<?xml version='1.0'?>"]),
       mode=st.sampled_from(["plain", "safe"]))
def test_dtds_external_entities_and_entity_bombs_are_refused(target: FuzzTarget, bomb: str,
                                                             prefix: str, mode: str) -> None:
    xml = prefix + bomb
    if mode == "plain":
        response = target.post("/wechat", xml.encode(), params=signed())
    else:  # the bomb inside a correctly encrypted and signed envelope
        query, body = WeChatPusher("", mode="safe").sign_push(xml)
        response = target.post("/wechat", body.encode(), params=query)
    check_refused(response)


@FUZZ
@given(encrypt=st.one_of(
    st.text(max_size=200),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=1, max_size=300).map(lambda b: base64.b64encode(b).decode()[:-1]),
))
def test_broken_base64_and_ciphertext_are_refused(target: FuzzTarget, encrypt: str) -> None:
    encrypt = encrypt.replace("]]>", "")
    check_refused(target.post("/wechat", envelope(encrypt), params=safe_query(encrypt)))


@FUZZ
@given(plain=st.binary(min_size=1, max_size=200), pad=st.integers(min_value=0, max_value=255))
def test_bad_aes_padding_is_refused(target: FuzzTarget, plain: bytes, pad: int) -> None:
    key = base64.b64decode(AES_KEY + "=")
    data = plain + bytes([pad])  # whatever the last byte says, the padding is rarely valid
    data += b"\x00" * (-len(data) % 32)
    encrypt = base64.b64encode(AES.new(key, AES.MODE_CBC, key[:16]).encrypt(data)).decode()
    check_refused(target.post("/wechat", envelope(encrypt), params=safe_query(encrypt)))


@FUZZ
@given(signature=st.text(max_size=60), timestamp=st.text(max_size=15), nonce=st.text(max_size=15))
def test_wrong_signatures_are_refused(target: FuzzTarget, signature: str, timestamp: str,
                                      nonce: str) -> None:
    query = {"signature": signature, "timestamp": timestamp, "nonce": nonce}
    check_refused(target.post("/wechat", text_xml("hi").encode(), params=query))


@FUZZ
@given(age=st.integers(min_value=301, max_value=10**10), future=st.booleans())
def test_stale_timestamps_are_refused(target: FuzzTarget, age: int, future: bool) -> None:
    stamp = str(int(time.time()) + (age if future else -age))
    response = target.post("/wechat", text_xml("hi").encode(), params=signed(stamp))
    assert response.status_code == 403


def test_memory_stays_bounded_over_the_run(target: FuzzTarget) -> None:
    growth = target.proc.rss_kib() - target.rss_before
    print(f"fuzz wechat: {len(target.tried)} requests, RSS grew {growth} KiB")  # noqa: T201
    assert growth < RSS_GROWTH_KIB
