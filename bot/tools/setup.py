"""Which tools a service offers: built from the settings once, at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.llm import LLMClient
from bot.pipeline.context import Context
from bot.settings import Settings
from bot.texts import Texts
from bot.tools.base import Tool, ToolBox
from bot.tools.builtin import CurrentTime, SearchKnowledge
from bot.tools.loop import ToolLoop

if TYPE_CHECKING:
    from bot.knowledge.base import KnowledgeBase
    from bot.tools.mcp import McpHub


def _offered(tool: Tool, ctx: Context) -> bool:
    """A preset that does not use the documents is not offered their search either."""
    return tool.name != SearchKnowledge.name or ctx.preset is None or ctx.preset.knowledge != "off"


def build_tools(settings: Settings, llm: LLMClient, texts: Texts,
                knowledge: KnowledgeBase | None) -> tuple[ToolLoop | None, McpHub | None]:
    """The tool loop (None when no tool is configured) and the MCP servers (None without any)."""
    tools: list[Tool] = []
    if settings.tools.enabled:
        tools.append(CurrentTime(settings.tools.timezone))
    if knowledge is not None and settings.knowledge.mode == "tool":
        tools.append(SearchKnowledge(knowledge))
    hub = None
    if settings.tools.enabled and settings.tools.mcp_servers:
        from bot.tools.mcp import McpHub  # the SDK takes a second and a half to import

        hub = McpHub(settings.tools.mcp_servers, settings.tools.timeout)
    if not tools and hub is None:
        return None, None
    box = ToolBox(settings.tools, tools, [hub.tools] if hub is not None else [])
    return ToolLoop(llm, box, settings.tools, texts, _offered), hub
