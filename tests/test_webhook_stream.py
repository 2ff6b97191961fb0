"""The NDJSON stream's writes: the lines of one loop turn go out together, in order, all of them."""

from __future__ import annotations

import json
from typing import Any, cast

from aiohttp import web

from adapters.webhook.stream import MAX_PENDING, NDJSONReplier
from bot.messages import Reply


class Recorded:
    """Stands in for the aiohttp StreamResponse: keeps each write; `gone` makes writes fail."""

    def __init__(self, gone: bool = False) -> None:
        self.writes: list[bytes] = []
        self.gone = gone

    async def write(self, data: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("client left")
        self.writes.append(data)


def lines(response: Recorded) -> list[dict[str, Any]]:
    return [json.loads(line) for line in b"".join(response.writes).splitlines()]


async def test_the_deltas_of_one_loop_turn_and_the_done_line_go_out_in_one_write() -> None:
    response = Recorded()
    replier = NDJSONReplier(cast(web.StreamResponse, response))
    for piece in ("Par", "is", "."):
        await replier.delta(piece)
    await replier.send(Reply("Paris."))
    assert len(response.writes) == 1
    assert [(x["content"], x["done"]) for x in lines(response)] == [
        ("Par", False), ("is", False), (".", False), ("[DONE]", True)]


async def test_a_long_burst_is_written_in_order_without_waiting_for_the_end() -> None:
    response = Recorded()
    replier = NDJSONReplier(cast(web.StreamResponse, response))
    for n in range(MAX_PENDING + 5):
        await replier.delta(str(n))
    assert response.writes  # the queue's bound made the burst wait for a write
    await replier.send(Reply("x"))
    assert [x["content"] for x in lines(response)] == [*map(str, range(MAX_PENDING + 5)), "[DONE]"]


async def test_a_client_gone_mid_stream_ends_the_writes_quietly() -> None:
    response = Recorded(gone=True)
    replier = NDJSONReplier(cast(web.StreamResponse, response))
    await replier.delta("a")
    await replier.send(Reply("a"))
    await replier.flushed()
    assert response.writes == []
