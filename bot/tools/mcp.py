"""MCP servers as tool sources, with the official `mcp` SDK: stdio (a command) or streamable HTTP
(a URL with headers). Each server lives in a task of its own (the SDK's anyio scopes must be left
in the task that entered them): it connects, lists its tools once, lists them again when the
server says they changed, and reconnects with backoff when it fails. A failed server is logged
and offers no tools meanwhile; it never stops the service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import mcp.types as types
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.stdio import get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from bot.feature_settings import McpServerSettings
from bot.tools.base import ToolFailed, ToolRun

log = logging.getLogger(__name__)

CONNECT_SECONDS = 15.0  # start, initialize and list: a server slower than this is failing
MAX_PAGES = 20  # tools/list pages: a paginator that never ends cannot hang us
MAX_BACKOFF = 60.0


def exposed_name(server: str, tool: str) -> str:
    """`server__tool`, within the function-name rules (letters, digits, _ and -, 64 at most)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")[:64]


def result_text(result: types.CallToolResult) -> str:
    """The content parts as text for the model (structured content when there is no text)."""
    parts: list[str] = []
    for part in result.content:
        if isinstance(part, types.TextContent):
            parts.append(part.text)
        elif isinstance(part, types.EmbeddedResource) and hasattr(part.resource, "text"):
            parts.append(str(part.resource.text))
        else:
            parts.append(f"[{part.type} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class McpTool:
    """One tool of one server, as the model sees it."""

    def __init__(self, server: McpServer, tool: types.Tool) -> None:
        self._server = server
        self._tool = tool.name
        self.name = exposed_name(server.name, tool.name)
        self.description = (tool.description or tool.title or tool.name)[:1024]
        self.parameters: dict[str, Any] = dict(tool.input_schema or {"type": "object"})
        self.status = f"{server.name}: {tool.name}"

    async def __call__(self, arguments: dict[str, Any], run: ToolRun) -> str:
        """Call it on the server."""
        return await self._server.call(self._tool, arguments)


class McpServer:
    """One configured server and its current tools."""

    def __init__(self, settings: McpServerSettings, call_timeout: float) -> None:
        self.name = settings.name
        self._s = settings
        self._call_timeout = call_timeout
        self._tools: tuple[McpTool, ...] = ()
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()  # the first connection attempt is over (either way)
        self._wake = asyncio.Event()
        self._stop = self._broken = self._changed = False
        self.error = ""

    def tools(self) -> Sequence[McpTool]:
        """The allowed tools while connected; none otherwise."""
        return self._tools

    def start(self) -> None:
        """Connect in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp-{self.name}")

    async def ready(self, seconds: float = CONNECT_SECONDS + 1) -> bool:
        """Wait for the first attempt; True when connected."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), seconds)
        return self._session is not None

    async def close(self) -> None:
        """Disconnect (the stdio process is stopped by the SDK)."""
        self._stop = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=5)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """One tools/call; failures become ToolFailed with a short reason."""
        session = self._session
        if session is None:
            raise ToolFailed(f"the {self.name} server is not connected")
        try:
            # The SDK's own timeout is a backstop: the tool box's, a second earlier, answers.
            result = await session.call_tool(tool, arguments, self._call_timeout + 1)
        except MCPError as exc:
            raise ToolFailed(f"{self.name}: {exc}") from exc
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self._mark_broken()
            raise ToolFailed(f"the connection to {self.name} was lost") from exc
        if not isinstance(result, types.CallToolResult):
            raise ToolFailed(f"{self.name} answered with a kind of result this bot does not use")
        if result.is_error:
            raise ToolFailed(result_text(result) or "the tool reported an error")
        return result_text(result)

    def _mark_broken(self) -> None:
        self._broken = True
        self._wake.set()

    async def _on_message(self, message: Any) -> None:
        """Notifications arrive here; the listing itself happens in the server's task."""
        if isinstance(message, types.ToolListChangedNotification):
            self._changed = True
            self._wake.set()
        elif isinstance(message, Exception):
            log.warning("mcp %s: transport error: %s", self.name, type(message).__name__)
            self._mark_broken()

    async def _run(self) -> None:
        delay = 1.0
        while not self._stop:
            try:
                await self._connected()
                delay = 1.0
            except Exception as exc:  # task owner: a failing server must never stop the service
                leaf = _leaf(exc)
                self.error = f"{type(leaf).__name__}: {leaf}"[:300]
                log.warning("mcp %s: unavailable (%s); retrying in %.0f s", self.name, self.error,
                            delay)
            finally:
                self._session, self._tools = None, ()
                self._tried.set()
            if self._stop:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _transport(self, stack: AsyncExitStack) -> tuple[Any, Any]:
        if self._s.command:
            params = StdioServerParameters(
                command=self._s.command[0], args=list(self._s.command[1:]),
                env={**get_default_environment(), **self._s.env})
            streams = await stack.enter_async_context(stdio_client(params))
        else:
            headers = {name: value.reveal() for name, value in self._s.headers}
            client = await stack.enter_async_context(httpx2.AsyncClient(
                headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)))
            streams = await stack.enter_async_context(
                streamable_http_client(self._s.url, http_client=client))
        return streams[0], streams[1]

    async def _connected(self) -> None:
        """One connection's life: connect, list, then serve until stopped, broken or changed."""
        async with AsyncExitStack() as stack:
            # The time limit covers the awaits only: a cancel scope around entering the SDK's
            # contexts would be left before theirs, which anyio refuses.
            read, write = await self._transport(stack)
            session = await stack.enter_async_context(
                ClientSession(read, write, message_handler=self._on_message))
            with anyio.fail_after(CONNECT_SECONDS):
                await session.initialize()
                self._broken = self._changed = False
                await self._list(session)
            self._session, self.error = session, ""
            self._tried.set()
            while not self._stop:
                await self._wake.wait()
                self._wake.clear()
                if self._broken:
                    raise ConnectionError("the server went away")
                if self._changed:
                    self._changed = False
                    with anyio.fail_after(CONNECT_SECONDS):
                        await self._list(session)

    async def _list(self, session: ClientSession) -> None:
        found: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await session.list_tools(
                params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            found.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        allow = set(self._s.allow)
        if missing := allow - {tool.name for tool in found}:
            log.warning("mcp %s: allowed tools not offered by the server: %s", self.name,
                        ", ".join(sorted(missing)))
        self._tools = tuple(McpTool(self, t) for t in found if not allow or t.name in allow)
        log.info("mcp %s: %d tool(s): %s", self.name, len(self._tools),
                 ", ".join(t.name for t in self._tools) or "none")


class McpHub:
    """Every configured server."""

    def __init__(self, servers: Sequence[McpServerSettings], call_timeout: float) -> None:
        self.servers = tuple(McpServer(s, call_timeout) for s in servers)

    def tools(self) -> list[McpTool]:
        """The tools of the servers connected now."""
        return [tool for server in self.servers for tool in server.tools()]

    def start(self) -> None:
        """Connect every server in the background."""
        for server in self.servers:
            server.start()

    async def close(self) -> None:
        """Disconnect them all."""
        await asyncio.gather(*(server.close() for server in self.servers))
