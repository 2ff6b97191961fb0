"""Settings of the optional features: the knowledge base (`knowledge:`) and tools (`tools:`)."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Secret, Section
from bot.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True, slots=True)
class KnowledgeSettings:
    """Where the documents are, how they are cut and embedded, and how answers use them."""

    dir: Path | None = None
    embedding_model: str = "text-embedding-3-small"
    dimensions: int = 0  # 0: the model's own size; text-embedding-3-* can shorten vectors
    mode: str = "auto"  # auto: retrieve for every message | tool: a search_knowledge tool
    top_k: int = 4
    min_score: float = 0.3
    chunk_chars: int = 1200
    overlap_chars: int = 200
    batch_size: int = 64
    links: str = ""  # URL prefix of the published documents; sources become links

    @property
    def enabled(self) -> bool:
        """On when a folder is configured."""
        return self.dir is not None


@dataclass(frozen=True, slots=True)
class McpServerSettings:
    """One MCP server: a command (stdio) or a URL (streamable HTTP), and the tools allowed."""

    name: str
    command: tuple[str, ...] = ()
    url: str = ""
    headers: tuple[tuple[str, Secret], ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    allow: tuple[str, ...] = ()  # empty: every tool the server lists

    @property
    def transport(self) -> str:
        """`stdio` or `http`."""
        return "stdio" if self.command else "http"


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """Function calling: bounds, built-ins, MCP servers."""

    enabled: bool = False
    max_steps: int = 5
    timeout: float = 20.0
    max_output_chars: int = 8000
    keep_results: bool = False  # also keep tool results in long-term history
    timezone: str = "UTC"
    mcp_servers: tuple[McpServerSettings, ...] = ()


def knowledge_settings(s: Section) -> KnowledgeSettings:
    """Read `knowledge:`; an empty `dir` (and no KNOWLEDGE_DIR) turns the feature off."""
    directory = s.text("dir", "", env="KNOWLEDGE_DIR").strip()
    chunk = s.integer("chunk_chars", 1200, minimum=200)
    overlap = s.integer("overlap_chars", 200, minimum=0)
    if overlap >= chunk // 2:
        raise ConfigError(f"{s.raw('overlap_chars')[1]}: must be less than half of chunk_chars")
    links = s.url("links", "")
    return KnowledgeSettings(
        dir=Path(directory) if directory else None,
        embedding_model=s.text("embedding_model", "text-embedding-3-small"),
        dimensions=s.integer("dimensions", 0, minimum=0),
        mode=s.choice("mode", "auto", ("auto", "tool")),
        top_k=s.integer("top_k", 4, minimum=1),
        min_score=s.number("min_score", 0.3, minimum=-1.0),
        chunk_chars=chunk,
        overlap_chars=overlap,
        batch_size=s.integer("batch_size", 64, minimum=1),
        links=links + "/" if links else "",
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(str(v) for v in value)


def _mapping(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or any(isinstance(v, (dict, list)) for v in value.values()):
        raise ConfigError(f"{where}: expected a mapping of strings")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _mcp_server(item: Any, where: str) -> McpServerSettings:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name and command or url")
    name = str(item.get("name") or "")
    if not _NAME.match(name):
        raise ConfigError(f"{where}.name: 1-32 letters, digits, '-' or '_', got {name!r}")
    command = _strings(item["command"], f"{where}.command") if item.get("command") else ()
    url = str(item.get("url") or "").strip()
    if bool(command) == bool(url):
        raise ConfigError(f"{where}: give exactly one of command (stdio) or url (streamable HTTP)")
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise ConfigError(f"{where}.url: expected an http(s) URL, got {url!r}")
    headers = _mapping(item.get("headers"), f"{where}.headers")
    allow = _strings(item["allow"], f"{where}.allow") if item.get("allow") is not None else ()
    return McpServerSettings(
        name=name, command=command, url=url,
        headers=tuple((k, Secret(v)) for k, v in headers.items()),
        env=_mapping(item.get("env"), f"{where}.env"), allow=allow,
    )


def tool_settings(s: Section) -> ToolSettings:
    """Read `tools:`, checking every MCP server entry and the timezone."""
    raw, where = s.raw("mcp_servers")
    if raw is not None and not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list of servers")
    servers = tuple(_mcp_server(item, f"{where}[{i}]") for i, item in enumerate(raw or []))
    names = [server.name for server in servers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: server names must be unique")
    timezone = s.text("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{s.raw('timezone')[1]}: unknown timezone {timezone!r}") from None
    return ToolSettings(
        enabled=s.flag("enabled", False),
        max_steps=s.integer("max_steps", 5, minimum=1),
        timeout=s.number("timeout", 20.0, minimum=0.1),
        max_output_chars=s.integer("max_output_chars", 8000, minimum=100),
        keep_results=s.flag("keep_results", False),
        timezone=timezone,
        mcp_servers=servers,
    )
