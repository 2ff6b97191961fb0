"""A long connection's honest state: connecting, connected (the server answered on it),
reconnecting or stopped; when the last frame and the last event came; the reconnect delay."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.platform import ConnectionHealth


def backoff(attempt: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """The delay before reconnect `attempt` (0 first): exponential up to `cap`, its second half
    jittered (`rand()` in [0, 1)) so many instances do not reconnect in step."""
    ceiling = min(cap, base * float(2 ** min(attempt, 32)))
    return ceiling / 2 + rand() * ceiling / 2


class Watch:
    """Written on the connection's thread, read by the health endpoints on the service's."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self.state = "stopped"
        self.last_frame = clock()
        self._last_event: float | None = None

    def set(self, state: str) -> None:
        """The connection's new state."""
        with self._lock:
            self.state = state

    def frame(self) -> None:
        """Any frame arrived (a pong included): the server is there; a new connection is up."""
        with self._lock:
            self.last_frame = self._clock()
            if self.state in ("connecting", "reconnecting"):
                self.state = "connected"

    def opened(self) -> None:
        """A new socket is open; it counts as connected once the server answers on it."""
        with self._lock:
            self.last_frame = self._clock()

    def event(self) -> None:
        """An event (a message) arrived."""
        with self._lock:
            self._last_event = self._clock()

    def silent_for(self) -> float:
        """Seconds since the last frame."""
        with self._lock:
            return self._clock() - self.last_frame

    def health(self) -> ConnectionHealth:
        """The state and the age of the last event, for /healthz, /readyz and /metrics."""
        with self._lock:
            age = None if self._last_event is None else self._clock() - self._last_event
            return ConnectionHealth(self.name, self.state, age)
