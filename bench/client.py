"""A lean HTTP/1.1 keep-alive client for the load generator (raw bytes in, status and body out).

aiohttp's client costs more CPU per request than the bare server it would measure, and the load
generator shares one core with Redis and the fakes; pre-built request bytes and a minimal
response reader (Content-Length or chunked) keep its share small.
"""

from __future__ import annotations

import asyncio


def request_bytes(method: str, path: str, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> bytes:
    """One serialized request with Host and Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive connection; `send` writes a request and reads its whole response."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect (or reconnect)."""
        self.close()
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port,
                                                                   limit=1 << 20)

    def close(self) -> None:
        """Drop the connection (a timed-out request leaves it unusable)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def send(self, raw: bytes, within: float) -> tuple[int, bytes]:
        """Status and body; TimeoutError after `within` seconds (the connection is then closed)."""
        if self._writer is None:
            await self.open()
        assert self._reader is not None
        assert self._writer is not None
        try:
            async with asyncio.timeout(within):
                self._writer.write(raw)
                return await self._response(self._reader)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            self.close()
            raise

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        body = await (self._chunks(reader) if chunked else reader.readexactly(length))
        if close:
            self.close()
        return status, body

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        for _ in range(1_000_000):  # bounded: a stream never has this many chunks here
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        return b"".join(parts)
