"""What `serve` runs on: its event loop (`server.uvloop`, `BOT_UVLOOP`) and the collector's pace."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

# Young objects per collection of the youngest generation, and collections of each generation
# per collection of the next: Python's defaults are (700, 10, 10).
GC_THRESHOLDS = (10_000, 50, 20)


def loop_factory(uvloop: bool) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when asked for and installed (less CPU per message in the loop and its
    sockets: docs/benchmarks.md), else None: asyncio's own."""
    if not uvloop:
        return None
    try:
        import uvloop as module
    except ImportError:  # not on this platform (it is a dependency elsewhere)
        return None
    return module.new_event_loop


def settle_the_heap() -> None:
    """Once started: collect, then keep what start-up made (modules, settings, clients) out of
    every later collection, and collect less often.

    With Python's defaults a full collection ran every second or so under load and walked every
    object the process holds (~150,000 after start-up, plus every message in flight): about a
    third of the service's CPU in a WeChat run at 128 and 1,024 in flight (docs/benchmarks.md).
    Per-message garbage is freed by reference counting; what the collector is for, cycles, is
    found as before, only later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
