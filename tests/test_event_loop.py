"""The runtime `serve` sets up: the collector leaves start-up's objects alone, and still collects."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.event_loop import GC_THRESHOLDS, settle_the_heap


@pytest.fixture
def collector() -> Iterator[None]:
    """Put the collector back as it was (the other tests run on Python's defaults)."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Node:
    """An object that can be part of a cycle."""

    other: object = None


def test_settling_the_heap_freezes_what_start_up_made(collector: None) -> None:
    made_at_start_up = Node()
    settle_the_heap()
    assert gc.get_freeze_count() > 0
    assert not any(obj is made_at_start_up for obj in gc.get_objects())  # never walked again


def test_settling_the_heap_collects_less_often(collector: None) -> None:
    settle_the_heap()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # Python's default


def test_a_cycle_made_afterwards_is_still_collected(collector: None) -> None:
    settle_the_heap()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
