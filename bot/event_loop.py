"""Which event loop `serve` runs on (`server.uvloop`, `BOT_UVLOOP`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


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
