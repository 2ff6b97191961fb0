"""One measured run: `level` closed-loop conversations driving one scenario for a bounded time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench.client import Connection
from bench.scenarios import Scenario
from tests.fakes.feishu import FakeFeishu

WECHAT_LISTENS = 5.0  # WeChat reads an answer for 5 s, then retries the same push (twice)
_CARD = re.compile(r"card_\d+")


@dataclass
class BenchFeishu(FakeFeishu):
    """The test suite's fake Open API, telling the load generator when each message was answered.

    `waiting[message_id]` resolves to (reply call time, first card update time, final card update
    time); the first update is the card's first text (`card_content`), or the final settings call
    when no text came before it. The record of calls is not kept (it would grow with every message).
    """

    waiting: dict[str, asyncio.Future[tuple[float, float, float]]] = field(default_factory=dict)
    replied: dict[str, float] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)  # card id -> its first text update

    async def _record(self, op: str, request: web.Request) -> Any:
        call = await super()._record(op, request)
        self.calls.clear()
        if op == "reply":
            message_id = request.match_info["message_id"]
            self.replied.setdefault(message_id, call.at)
            if found := _CARD.search(str(call.body.get("content", ""))):
                self.cards[found.group()] = message_id
        elif op == "card_content":
            self.first.setdefault(request.match_info["card_id"], call.at)
        elif op == "card_settings":
            card = request.match_info["card_id"]
            message_id, first = self.cards.pop(card, ""), self.first.pop(card, call.at)
            future = self.waiting.pop(message_id, None)
            if future is not None and not future.done():
                future.set_result((self.replied.pop(message_id, call.at), first, call.at))
        return call


@dataclass
class Tally:
    """What the conversations of one run observed."""

    latencies: list[float] = field(default_factory=list)  # seconds, send to answer
    acks: list[float] = field(default_factory=list)  # Feishu: send to the HTTP 200
    replies: list[float] = field(default_factory=list)  # Feishu: send to the reply call
    firsts: list[float] = field(default_factory=list)  # Feishu: send to the first card update
    errors: int = 0
    late: int = 0  # WeChat: not answered within the first 5 s window
    unanswered: int = 0  # WeChat: no answer in any of the three windows
    first_error: str = ""

    def fail(self, detail: str) -> None:
        """Count an error, keeping the first one's description."""
        self.errors += 1
        self.first_error = self.first_error or detail[:200]


class Load:
    """Drives `level` conversations, each sending its next message when the last was answered."""

    def __init__(self, scenario: Scenario, port: int, level: int, prefix: str, first_number: int,
                 feishu: BenchFeishu | None) -> None:
        self._s = scenario
        self._port = port
        self._level = level
        self._prefix = prefix
        self._numbers = itertools.count(first_number)
        self._feishu = feishu
        self.tally = Tally()
        self._sent = 0

    async def run(self, seconds: float, max_messages: int) -> float:
        """Connect every conversation, then send until a bound is reached; the elapsed seconds."""
        connections = [Connection(self._port) for _ in range(self._level)]
        for start in range(0, len(connections), 64):
            await asyncio.gather(*(c.open() for c in connections[start:start + 64]))
        started = time.monotonic()
        stop_at = started + seconds
        try:
            await asyncio.gather(*(self._conversation(i, c, stop_at, max_messages)
                                   for i, c in enumerate(connections)))
        finally:
            for connection in connections:
                connection.close()
        return time.monotonic() - started

    async def _conversation(self, index: int, connection: Connection, stop_at: float,
                            max_messages: int) -> None:
        user = f"{self._prefix}u{index}"
        while self._sent < max_messages and time.monotonic() < stop_at:
            self._sent += 1
            await self._one(connection, user, next(self._numbers))

    async def _one(self, connection: Connection, user: str, number: int) -> None:
        raw = self._s.build(user, number)
        future: asyncio.Future[tuple[float, float, float]] | None = None
        if self._feishu is not None:
            future = asyncio.get_running_loop().create_future()
            self._feishu.waiting[f"om_bench_{number}"] = future
        sent = time.monotonic()
        body = await self._exchange(connection, raw)
        if body is None:
            return
        if future is None:
            self.tally.latencies.append(time.monotonic() - sent)
            return
        self.tally.acks.append(time.monotonic() - sent)
        try:
            replied, first, done = await asyncio.wait_for(future, 60.0)
        except TimeoutError:
            self.tally.fail("feishu: no final card update within 60 s")
            return
        self.tally.replies.append(replied - sent)
        self.tally.firsts.append(first - sent)
        self.tally.latencies.append(done - sent)

    async def _exchange(self, connection: Connection, raw: bytes) -> bytes | None:
        """Send; WeChat pushes are retried like WeChat does. The good answer's body, or None."""
        attempts = 3 if self._s.wechat else 1
        window = WECHAT_LISTENS if self._s.wechat else 60.0
        for attempt in range(attempts):
            try:
                status, body = await connection.send(raw, window)
            except TimeoutError:
                if attempt == 0:
                    self.tally.late += 1
                continue
            except (OSError, asyncio.IncompleteReadError) as exc:
                self.tally.fail(f"connection: {type(exc).__name__}")
                with contextlib.suppress(OSError):
                    await connection.open()
                return None
            if status != 200 or self._s.expect not in body:
                self.tally.fail(f"HTTP {status}: {body[:150]!r}")
                return None
            return body
        self.tally.unanswered += 1
        self.tally.fail("wechat: no answer in three 5 s windows")
        return None
