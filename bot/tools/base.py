"""The tools the model may call: what each one is, and the one place a call is checked against
its JSON schema, bounded in time and capped in size before its result goes back to the model."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from bot.citations import Citations
from bot.feature_settings import ToolSettings
from bot.tools.wire import ToolCall

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolRun:
    """What one message's tool calls share: the numbering of the passages found."""

    citations: Citations = field(default_factory=Citations)


class Tool(Protocol):
    """A callable the model can ask for by name."""

    @property
    def name(self) -> str:
        """The function name the model calls."""
        ...

    @property
    def description(self) -> str:
        """What it does, for the model."""
        ...

    @property
    def parameters(self) -> Mapping[str, Any]:
        """JSON Schema of the arguments object."""
        ...

    @property
    def status(self) -> str:
        """What the user is shown while it runs ("searching the documents")."""
        ...

    async def __call__(self, arguments: dict[str, Any], run: ToolRun) -> str:
        """Run with validated arguments; the result as text for the model."""
        ...


class ToolFailed(Exception):
    """A tool that could not give a result; the message goes to the model, never the user."""


def spec(tool: Tool) -> dict[str, Any]:
    """The tool as offered in a chat request's `tools`."""
    return {"type": "function", "function": {
        "name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)}}


def _check(schema: Mapping[str, Any], arguments: Any) -> str:
    """The first way `arguments` breaks `schema`, or ""."""
    try:
        cls = validator_for(schema)
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(arguments))
    except SchemaError as exc:  # the tool's own schema is broken: never call it blind
        return f"the tool's schema is invalid ({exc.message})"
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path) or "arguments"
    return f"{where}: {error.message}"


def capped(text: str, limit: int) -> str:
    """At most `limit` characters, saying so when cut."""
    return text if len(text) <= limit else text[:limit] + f"\n… [cut at {limit} characters]"


class ToolBox:
    """The tools on offer now: built-ins, plus whatever the MCP sources list at this moment."""

    def __init__(self, settings: ToolSettings, tools: Sequence[Tool] = (),
                 sources: Sequence[Callable[[], Sequence[Tool]]] = ()) -> None:
        self._settings = settings
        self._tools = tuple(tools)
        self._sources = tuple(sources)

    def tools(self, include: Callable[[Tool], bool] = lambda tool: True) -> dict[str, Tool]:
        """By name; the first of two tools with one name wins (built-ins come first)."""
        found: dict[str, Tool] = {}
        for tool in [*self._tools, *(t for source in self._sources for t in source())]:
            if include(tool):
                found.setdefault(tool.name, tool)
        return found

    async def call(self, call: ToolCall, tools: Mapping[str, Tool], run: ToolRun) -> str:
        """Validate, run within the timeout, cap: the text the model gets back (errors too)."""
        tool = tools.get(call.name)
        if tool is None:
            return f"error: there is no tool named {call.name!r}"
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            return f"error: the arguments are not valid JSON ({exc.msg}); nothing was run"
        if problem := _check(tool.parameters, arguments):
            log.info("tools: refused a call of %s: %s", call.name, problem)
            return f"error: the arguments do not match the tool's schema ({problem}); nothing was run"
        try:
            async with asyncio.timeout(self._settings.timeout):
                result = await tool(arguments, run)
        except TimeoutError:
            log.warning("tools: %s did not answer within %.0f s", call.name, self._settings.timeout)
            return f"error: the tool did not answer within {self._settings.timeout:g} seconds"
        except ToolFailed as exc:
            return f"error: {exc}"
        return capped(result, self._settings.max_output_chars)
