"""An MCP server for the tests, on the official SDK's server side: `python tests/mcp_server.py`
serves it over stdio; `build()` gives it to the HTTP tests (streamable HTTP on loopback).

Every call is recorded: appended as a JSON line to $MCP_CALLS_FILE when set, and kept in
`CALLS` in process."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from mcp.server.mcpserver import Context, MCPServer

CALLS: list[dict[str, Any]] = []


def _record(name: str, arguments: dict[str, Any]) -> None:
    CALLS.append({"tool": name, "arguments": arguments})
    if path := os.environ.get("MCP_CALLS_FILE"):
        with open(path, "a", encoding="utf-8") as calls:
            calls.write(json.dumps({"tool": name, "arguments": arguments}) + "\n")


def build(name: str = "test-tools") -> MCPServer:
    """The server with its tools: add, slow, stock (list-changed), secret (for allow-lists)."""
    server: MCPServer = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        _record("add", {"a": a, "b": b})
        return f"{a} + {b} = {a + b}"

    @server.tool()
    async def slow(seconds: float) -> str:
        """Wait, then answer."""
        _record("slow", {"seconds": seconds})
        await asyncio.sleep(seconds)
        return "done waiting"

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Offer one more tool, and tell the client its list changed."""
        _record("grow", {})
        server.add_tool(lambda text: text.upper(), name="shout", description="Upper-case a text.")
        await ctx.session.send_tool_list_changed()
        return "a new tool is offered"

    @server.tool()
    def secret() -> str:
        """A tool an allow-list leaves out."""
        _record("secret", {})
        return "should never be called"

    return server


if __name__ == "__main__":
    build().run("stdio")
