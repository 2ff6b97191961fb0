"""The meter of the message being handled: every model call made for it adds what it cost.

A context variable binds the meter to the message's task, so a call made anywhere below the
pipeline's usage step (tool rounds, transcription, pictures) is counted without threading a
parameter through each call; a call made outside a message (the relay, `check`) counts nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

METRICS = ("in", "out", "est_in", "est_out", "msgs", "tools", "images", "speech")


@dataclass
class Meter:
    """Counts per model for one message; `est_*` are the part of the tokens that were estimated."""

    models: dict[str, dict[str, int]] = field(default_factory=dict)
    primary: str = ""  # the first model used: messages and tool calls are counted under it

    def add(self, model: str, **counts: int) -> None:
        """Add counts (names from METRICS) under `model`."""
        if not self.primary:
            self.primary = model
        slot = self.models.setdefault(model, {})
        for name, amount in counts.items():
            if amount:
                slot[name] = slot.get(name, 0) + amount

    def total(self, name: str) -> int:
        """One metric summed over models."""
        return sum(slot.get(name, 0) for slot in self.models.values())

    @property
    def tokens(self) -> int:
        """Tokens in and out, the quantity quotas are counted in."""
        return self.total("in") + self.total("out")


_CURRENT: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("usage_meter", default=None)


@contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Bind `meter` to the current task (and tasks it starts) for the duration."""
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


def record_tokens(model: str, tokens_in: int, tokens_out: int, estimated: bool = False) -> None:
    """Tokens of one model call (as the endpoint reported them, or estimated)."""
    meter = _CURRENT.get()
    if meter is not None:
        extra = {"est_in": tokens_in, "est_out": tokens_out} if estimated else {}
        meter.add(model, **{"in": tokens_in, "out": tokens_out}, **extra)


def record_tool_call(name: str = "") -> None:
    """One tool call made for the message (counted under the message's model)."""
    meter = _CURRENT.get()
    if meter is not None:
        meter.add(meter.primary or "-", tools=1)


def record_image(model: str) -> None:
    """One picture generated or edited."""
    meter = _CURRENT.get()
    if meter is not None:
        meter.add(model, images=1)


def record_speech(model: str) -> None:
    """One piece of audio transcribed or spoken."""
    meter = _CURRENT.get()
    if meter is not None:
        meter.add(model, speech=1)


def estimate_tokens(messages: Sequence[dict[str, Any]] | str) -> int:
    """A rough token count where the endpoint reports none: ~4 characters a token for Latin
    text, ~1 a token for CJK and other wide scripts."""
    if isinstance(messages, str):
        texts = [messages]
    else:
        texts = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    narrow = wide = 0
    for text in texts:
        for char in text:
            if ord(char) < 0x2E80:
                narrow += 1
            else:
                wide += 1
    return (narrow + 3) // 4 + wide + (4 * len(texts) if not isinstance(messages, str) else 0)
