"""Reasoning text is stripped, whole or split across streamed deltas at any point."""

from __future__ import annotations

import pytest

from bot.pipeline.reasoning import ReasoningFilter, strip_reasoning

ANSWER = "<think>step 1, step 2</think>\n\nThe answer is 42."


def stream_through(text: str, size: int) -> str:
    visible = ReasoningFilter()
    parts = [visible.feed(text[i:i + size]) for i in range(0, len(text), size)]
    return "".join(parts) + visible.flush()


def test_whole_text_loses_its_think_block() -> None:
    assert strip_reasoning(ANSWER) == "The answer is 42."


def test_an_unclosed_think_block_hides_everything_after_it() -> None:
    assert strip_reasoning("Hi <think>never finished") == "Hi"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_streamed_text_loses_its_think_block_at_any_chunk_size(size: int) -> None:
    assert stream_through(ANSWER, size) == "The answer is 42."


def test_text_resembling_a_tag_prefix_is_not_swallowed() -> None:
    assert stream_through("a < b and <thin ice>", 1) == "a < b and <thin ice>"


def test_text_without_reasoning_passes_unchanged() -> None:
    assert stream_through("plain `code` <b>", 3) == "plain `code` <b>"
