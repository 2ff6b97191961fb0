"""A lean fake OpenAI chat endpoint on raw asyncio: JSON or SSE after a configurable latency.

The test fake (tests/fakes/openai.py) records every request and parses every body; at thousands
of calls a second that bookkeeping would compete with the service for the same core, so the
benchmark uses this one: canned answers, `"stream": true` found by a byte search, keep-alive.
`POST /control/latency` with a body like `0.5` changes the latency between runs.

Run: `python -m bench.fakellm --port P [--latency SECONDS]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

ANSWER = "Hello! This is the **fake model** answering your message, in a few words."
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_MAX_HEAD = 64 * 1024


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    event = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
             "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _whole() -> bytes:
    body = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 16, "total_tokens": 36},
    }).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def _streamed() -> bytes:
    words = ANSWER.split(" ")
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": (" " if i else "") + w}) for i, w in enumerate(words)]
    events.append(_chunk({}, "stop"))
    usage = json.loads(_chunk({})[6:])
    usage.update(choices=[], usage={"prompt_tokens": 20, "completion_tokens": len(words),
                                    "total_tokens": 20 + len(words)})
    events.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body)


WHOLE, STREAMED = _whole(), _streamed()
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class State:
    """What every connection shares: the latency and a request count."""

    latency = 0.0
    served = 0


class FakeLLM(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order after `State.latency`."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD and self._transport is not None:
                    self._transport.close()
                return
            head = self._buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            body = self._buffer[end + 4:end + 4 + length]
            self._buffer = self._buffer[end + 4 + length:]
            self._answer(head.split(" ", 2)[1], body)

    def _answer(self, path: str, body: bytes) -> None:
        if path == "/control/latency":
            State.latency = float(body or b"0")
            self._write(OK)
            return
        State.served += 1
        reply = STREAMED if _STREAM.search(body) else WHOLE
        if State.latency > 0:
            self._loop.call_later(State.latency, self._write, reply)
        else:
            self._write(reply)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


async def serve(port: int, latency: float) -> None:
    """Serve until killed."""
    State.latency = latency
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FakeLLM, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Command line entry."""
    parser = argparse.ArgumentParser(prog="python -m bench.fakellm")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.latency))


if __name__ == "__main__":
    main()
