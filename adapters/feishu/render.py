"""Feishu message bodies: streaming and message cards, post chunks, text; card size limits."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from bot.messages import Source

ELEMENT = "answer"
MAX_TABLES = 5  # Feishu rejects cards with more (error 230099)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.M)


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept (Feishu counts bytes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def stream_card(text: str) -> dict[str, Any]:
    """A CardKit JSON 2.0 card in streaming mode with one markdown element."""
    return {
        "schema": "2.0",
        "config": {"streaming_mode": True, "update_multi": True, "summary": {"content": ""}},
        "body": {"elements": [{"tag": "markdown", "element_id": ELEMENT, "content": text}]},
    }


def message_card(text: str) -> dict[str, Any]:
    """An interactive message card (JSON 1.0, shared so PATCH updates reach everyone)."""
    return {"config": {"wide_screen_mode": True, "update_multi": True},
            "elements": [{"tag": "markdown", "content": text}]}


def card_reference(card_id: str) -> str:
    """Message content that shows a CardKit card entity."""
    return dumps({"type": "card", "data": {"card_id": card_id}})


def text_content(text: str) -> str:
    """Content of a `text` message."""
    return dumps({"text": text})


def post_content(markdown: str) -> str:
    """Content of a `post` message holding markdown."""
    return dumps({"zh_cn": {"title": "", "content": [[{"tag": "md", "text": markdown}]]}})


def sources_markdown(sources: Sequence[Source]) -> str:
    """The answer's source list under a rule, each entry a link when the document has one."""
    if not sources:
        return ""
    lines = []
    for source in sources:
        label = source.label.replace("[", "(").replace("]", ")")
        lines.append(f"[{source.number}] " + (f"[{label}]({source.url})" if source.url else label))
    return "\n\n---\n<font color='grey'>" + "\n".join(lines) + "</font>"


def fits_card(text: str, max_bytes: int) -> bool:
    """Whether the text can be shown in one card (size and table count)."""
    if len(_TABLE_RULE.findall(text)) > MAX_TABLES:
        return False
    return len(dumps(stream_card(text)).encode("utf-8")) <= max_bytes


def _cut(text: str, max_bytes: int) -> tuple[str, str]:
    """The longest head within `max_bytes`, preferring a paragraph, then a line break."""
    if len(text.encode("utf-8")) <= max_bytes:
        return text, ""
    head = text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")
    for separator in ("\n\n", "\n", " "):
        at = head.rfind(separator)
        if at > len(head) // 2:
            return head[:at], text[at + len(separator):]
    return head, text[len(head):]


def split_markdown(text: str, max_bytes: int) -> list[str]:
    """Pieces of at most `max_bytes` UTF-8 bytes each, cut at paragraph or line ends when possible."""
    pieces: list[str] = []
    rest = text.strip()
    for _ in range(len(text) + 1):  # bounded: every round consumes at least one character
        if not rest:
            break
        head, rest = _cut(rest, max_bytes)
        if head.strip():
            pieces.append(head.strip())
        rest = rest.strip()
    return pieces
