"""OpenAI function calling on the wire: the calls of a whole answer, and of a stream, where each
`tool_calls` delta carries an `index` and a piece of the call (its id and name once, its
arguments in pieces to concatenate)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for; `arguments` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str

    def wire(self) -> dict[str, Any]:
        """The call as it goes back in the assistant message."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True, slots=True)
class ModelTurn:
    """One model response inside a tool loop: its text, the calls it asked for, its usage."""

    text: str
    calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def assistant_message(self) -> dict[str, Any]:
        """The assistant message that must precede the tool results."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.calls:
            message["tool_calls"] = [call.wire() for call in self.calls]
        return message


def tools_body(body: dict[str, Any], tools: Iterable[dict[str, Any]],
               tool_choice: str | None) -> dict[str, Any]:
    """A chat request body with `tools` offered (and `tool_choice`, when one is given)."""
    body = {**body, "tools": list(tools)}
    if tool_choice:
        body["tool_choice"] = tool_choice
    return body


def calls_of(result: Any) -> tuple[ToolCall, ...]:
    """The tool calls of a chat.completion body's first choice (lenient about missing fields)."""
    choices = (result.get("choices") or [{}]) if isinstance(result, dict) else [{}]
    message = (choices[0] or {}).get("message")
    if not isinstance(message, dict):
        return ()
    calls = []
    for number, raw in enumerate(message.get("tool_calls") or ()):
        function = (raw or {}).get("function") or {}
        name = function.get("name")
        if isinstance(name, str) and name:
            calls.append(ToolCall(str(raw.get("id") or f"call_{number}"), name,
                                  str(function.get("arguments") or "")))
    return tuple(calls)


@dataclass
class _Pieces:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamedCalls:
    """Collects the `tool_calls` deltas of a stream into whole calls."""

    def __init__(self) -> None:
        self._calls: dict[int, _Pieces] = {}

    def feed(self, deltas: Iterable[Any]) -> None:
        """Add one chunk's `delta.tool_calls` (JSON objects; anything else is skipped)."""
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            # Some compatible backends leave out `index` when they send one call at a time.
            index = delta.get("index")
            if not isinstance(index, int):
                index = max(self._calls, default=0)
            pieces = self._calls.setdefault(index, _Pieces())
            if delta.get("id"):
                pieces.id = str(delta["id"])
            function = delta.get("function")
            if isinstance(function, dict):
                if function.get("name"):
                    pieces.name += str(function["name"])
                if function.get("arguments"):
                    pieces.arguments.append(str(function["arguments"]))

    def text(self) -> str:
        """Every name and argument piece received so far (what the model wrote, for estimates)."""
        return "".join(p.name + "".join(p.arguments) for p in self._calls.values())

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls in index order; a piece without a name is not a call."""
        return tuple(
            ToolCall(p.id or f"call_{index}", p.name, "".join(p.arguments))
            for index, p in sorted(self._calls.items()) if p.name
        )
