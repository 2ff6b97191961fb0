"""Numbering the passages one answer may cite, and picking the sources it did cite."""

from __future__ import annotations

import re

from bot.messages import Source

_MARK = re.compile(r"\[(\d{1,3})\]")


class Citations:
    """Per message: each (document, section) gets a number the first time a passage of it is
    given to the model, and keeps it for later passages and searches."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str], Source] = {}

    def number(self, document: str, section: str, url: str = "") -> int:
        """The citation number of a passage's place."""
        place = (document, section)
        if place not in self._numbers:
            self._numbers[place] = Source(len(self._numbers) + 1, document, section, url)
        return self._numbers[place].number

    def __bool__(self) -> bool:
        return bool(self._numbers)

    def sources(self, answer: str) -> tuple[Source, ...]:
        """The sources the answer cites with `[n]`; all of them when it cites none by number
        (the passages were above the threshold, so they informed it)."""
        given = sorted(self._numbers.values(), key=lambda s: s.number)
        cited = {int(n) for n in _MARK.findall(answer)}
        chosen = [s for s in given if s.number in cited]
        return tuple(chosen or given)
