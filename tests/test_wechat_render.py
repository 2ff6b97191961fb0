"""Plain-text rendering of markdown, byte-limited splitting, reply XML, settings checks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from adapters.wechat.render import plain_text, split_bytes, text_reply
from adapters.wechat.settings import read
from bot.config import Section
from bot.errors import ConfigError


def test_code_blocks_are_kept_verbatim() -> None:
    assert plain_text("Run:\n\n```python\nx = **1**\n```") == "Run:\n\nx = **1**"


def test_headings_lists_and_links_become_readable_text() -> None:
    assert plain_text("# Title\n* one\n1. two\n[site](https://a.b)") == (
        "【Title】\n• one\n1. two\nsite (https://a.b)")


def test_tables_lose_their_rule_row() -> None:
    assert plain_text("| a | b |\n|---|---|\n| 1 | 2 |") == "a | b\n1 | 2"


@pytest.mark.parametrize("limit", [2047, 100])
def test_split_parts_stay_within_the_byte_limit(limit: int) -> None:
    text = "中文句子，还有更多内容。" * 400 + "end"
    assert all(len(part.encode("utf-8")) <= limit for part in split_bytes(text, limit))


def test_split_prefers_paragraph_boundaries() -> None:
    paragraphs = ["a" * 1500, "b" * 1500]
    assert split_bytes("\n\n".join(paragraphs), 2047) == paragraphs


def test_split_keeps_every_character() -> None:
    text = "一二三四五六七八九十" * 500
    assert "".join(split_bytes(text, 2047)) == text


def test_text_exactly_at_the_limit_is_one_part() -> None:
    text = "é" * 1023 + "x"  # 2047 bytes
    assert split_bytes(text, 2047) == [text]


def test_reply_xml_with_cdata_terminator_parses_back() -> None:
    xml = text_reply("o", "gh", "x ]]> y", now=1)
    assert ET.fromstring(xml).findtext("Content") == "x ]]> y"


def test_customer_service_without_credentials_is_a_config_error() -> None:
    section = Section({"token": "t", "customer_service": True}, "wechat", {})
    with pytest.raises(ConfigError, match="customer_service"):
        read(section)


def test_no_token_means_the_adapter_is_off() -> None:
    assert read(Section({}, "wechat", {})) is None
