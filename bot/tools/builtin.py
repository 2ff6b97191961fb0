"""Tools that need no internet: the current date and time, and a search of the knowledge base.
(No general URL fetcher: letting the model choose URLs would open the network to it.)"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.errors import StorageUnavailable, UpstreamError
from bot.tools.base import ToolFailed, ToolRun

if TYPE_CHECKING:  # numpy, which the knowledge base needs, only for services that have one
    from bot.knowledge.base import KnowledgeBase


class CurrentTime:
    """The date, time and weekday in the operator's timezone."""

    name = "current_time"
    description = "The current date, time and weekday."
    status = "checking the time"

    def __init__(self, timezone: str, clock: Callable[[], float] = time.time) -> None:
        self.parameters: dict[str, Any] = {"type": "object", "properties": {},
                                           "additionalProperties": False}
        self._zone = zoneinfo.ZoneInfo(timezone)
        self._clock = clock

    async def __call__(self, arguments: dict[str, Any], run: ToolRun) -> str:
        """ISO time with offset, weekday and zone."""
        now = dt.datetime.fromtimestamp(self._clock(), self._zone)
        return f"{now.isoformat(timespec='seconds')} ({now:%A}, {self._zone.key})"


class SearchKnowledge:
    """The knowledge base as a tool (`knowledge.mode: tool`)."""

    name = "search_knowledge"
    description = ("Search the operator's documents (products, policies, manuals). Returns "
                   "numbered passages; cite the ones you use by number, like [1].")
    status = "searching the documents"

    def __init__(self, knowledge: KnowledgeBase) -> None:
        self.parameters: dict[str, Any] = {
            "type": "object", "additionalProperties": False, "required": ["query"],
            "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500,
                                     "description": "what to look for, in a few words"}},
        }
        self._kb = knowledge

    async def __call__(self, arguments: dict[str, Any], run: ToolRun) -> str:
        """The passages above the threshold, numbered for citing."""
        try:
            passages = await self._kb.search(str(arguments["query"]))
        except (UpstreamError, StorageUnavailable) as exc:
            raise ToolFailed("the documents cannot be searched right now") from exc
        if not passages:
            return "No passage in the documents matches that."
        from bot.knowledge.base import numbered  # loaded already: the base is in use

        return numbered(run.citations, passages)
