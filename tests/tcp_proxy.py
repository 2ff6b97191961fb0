"""A loopback TCP proxy that can silently stop forwarding: a NAT or a failover dropping a
connection without a FIN or RST, as seen from the client."""

from __future__ import annotations

import asyncio
import contextlib


class FreezingProxy:
    """Forwards to `target`; `freeze()` stalls every open connection (new ones still work)."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._frozen: set[asyncio.Event] = set()
        self._live: set[asyncio.Event] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> FreezingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def freeze(self) -> None:
        """Every connection open now stops forwarding, and stays open."""
        for gate in self._live:
            gate.clear()
        self._frozen |= self._live
        self._live = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        gate = asyncio.Event()
        gate.set()
        self._live.add(gate)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer, gate), self._pipe(up_reader, writer, gate),
                             return_exceptions=True)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, gate: asyncio.Event) -> None:
        while data := await src.read(65536):
            await gate.wait()  # frozen: hold the bytes forever, like a dropped route
            dst.write(data)
            await dst.drain()
        dst.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for gate in self._frozen:
            gate.set()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
