"""The core's lines of `python -m bot check`: the LLM, storage, moderation, presets, the knowledge
base and the MCP servers (the operator's and the adapters' lines come after)."""

from __future__ import annotations

from bot.core import Core
from bot.errors import StorageUnavailable, UpstreamError
from bot.platform import Check, Services


async def core_checks(core: Core) -> list[Check]:
    """Try each of the core's dependencies, one line each (several for moderation and MCP)."""
    services = core.services
    results = [await _check_llm(core), await _check_storage(services)]
    results.extend(await services.moderation.probe())
    results.append(Check("prompts", True, f"{len(services.presets.names())} preset(s), "
                         f"default {services.presets.default!r}"))
    results.extend(await _check_knowledge(core))
    results.extend(await _check_mcp(core))
    return results


async def _check_llm(core: Core) -> Check:
    settings = core.services.settings.llm
    name = f"LLM {settings.model} at {settings.base_url}"
    if not settings.api_key:
        return Check(name, False, "OPENAI_API_KEY is not set")
    try:
        await core.llm.complete([{"role": "user", "content": "Reply with OK."}])
    except UpstreamError as exc:
        return Check(name, False, f"{exc.kind}: {exc}")
    return Check(name, True, "answered")


async def _check_knowledge(core: Core) -> list[Check]:
    knowledge, settings = core.knowledge, core.services.settings.knowledge
    if knowledge is None:
        return []
    name = f"knowledge {settings.dir}"
    try:
        await knowledge.index.refresh()
    except StorageUnavailable as exc:
        return [Check(name, False, f"the shared index cannot be read ({exc})")]
    size = knowledge.index.size
    if not size:
        return [Check(name, False, "no passages indexed: run `python -m bot kb sync`")]
    return [Check(name, True, f"{size} passages, {settings.mode} mode")]


async def _check_mcp(core: Core) -> list[Check]:
    """Connect to each MCP server and list the tools it offers (after the allow-list)."""
    if core.mcp is None:
        return []
    results = []
    for server in core.mcp.servers:
        name = f"MCP server {server.name}"
        if await server.ready():
            tools = ", ".join(t.name for t in server.tools()) or "no tools allowed"
            results.append(Check(name, True, f"{len(server.tools())} tool(s): {tools}"))
        else:
            results.append(Check(name, False, server.error or "did not connect in time"))
    return results


async def _check_storage(services: Services) -> Check:
    if services.storage.kind == "memory":
        return Check("storage", True, "in-process memory (REDIS_URL unset: one instance only)")
    try:
        await services.storage.ping()
    except StorageUnavailable as exc:
        return Check("storage", False, f"Redis unreachable ({exc}); check REDIS_URL")
    return Check("storage", True, "Redis answered PING")
