"""Reasoning text (`<think>…</think>`) never reaches a user: stripped whole or while streaming."""

from __future__ import annotations

import re

_OPEN, _CLOSE = "<think>", "</think>"
_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S)


def strip_reasoning(text: str) -> str:
    """Remove every think block (an unclosed one runs to the end) and the blank space it leaves."""
    return _BLOCK.sub("", text).strip()


class ReasoningFilter:
    """Feed deltas in, get visible deltas out; holds back only what may be the start of a tag."""

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        self._started = False  # leading whitespace after a think block is dropped

    def feed(self, delta: str) -> str:
        """Visible text from this delta."""
        self._buffer += delta
        out: list[str] = []
        while self._buffer:
            tag = _CLOSE if self._inside else _OPEN
            index = self._buffer.find(tag)
            if index >= 0:
                if not self._inside:
                    out.append(self._buffer[:index])
                self._buffer = self._buffer[index + len(tag):]
                self._inside = not self._inside
                continue
            keep = _partial_suffix(self._buffer, tag)
            if not self._inside:
                out.append(self._buffer[: len(self._buffer) - keep])
            self._buffer = self._buffer[len(self._buffer) - keep:]
            break
        return self._visible("".join(out))

    def flush(self) -> str:
        """Whatever is still held back at the end of the stream."""
        rest, self._buffer = ("" if self._inside else self._buffer), ""
        return self._visible(rest)

    def _visible(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0
