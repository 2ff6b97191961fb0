"""The term matcher: Aho-Corasick (ahocorasick-rs) over folded text, and its streaming filter.

Folding makes case and width irrelevant: each character is replaced by its compatibility
decomposition (NFKD), case-folded, so "ＡＢＣ", "ABC" and "abc" are one term, and so are
"ｶﾞ" and "ガ". Folding is per character, which keeps a map from folded positions back to the
original ones: a mask replaces exactly the original characters, so the text keeps its length.

Folding every character in Python costs ~0.1 µs each, more than the search itself, so a text
is only folded character by character when it holds a character whose folded form could take
part in a match (one sharing a character with some term); otherwise C-speed `casefold` gives
the same matches. bench/moderation.py measures both paths.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

import ahocorasick_rs

MASK = "*"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# Where characters fold to something else: planes 0 and 1 and the CJK compatibility block.
_SCANNED = (range(0xD800), range(0xE000, 0x20000), range(0x2F800, 0x2FA20))


def _fold_char(char: str) -> str:
    return unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())


class _FoldTable(dict[int, str]):
    """Code point -> folded text, filled the first time a character is seen."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_TABLE = _FoldTable()


@functools.cache
def _folding_into() -> dict[str, frozenset[str]]:
    """For each character, the others whose folded form holds it ("Ａ" and "À" hold "a").
    About 18,000 characters fold to something else; found once per process (~0.1 s)."""
    into: dict[str, set[str]] = {}
    for block in _SCANNED:
        for code in block:
            char = chr(code)
            folded = _fold_char(char)
            if folded != char:
                for part in folded:
                    into.setdefault(part, set()).add(char)
    return {part: frozenset(chars) for part, chars in into.items()}


Folding = tuple[str, list[int] | None]
"""A folded text and its index map back to the original (None: one-for-one)."""


def fold_slowly(text: str) -> Folding:
    """Fold character by character: the folded text and, when some character folded to
    several, each folded position's original index (None when all were one-for-one)."""
    folded = text.translate(_TABLE)
    if len(folded) == len(text):  # no character folds to nothing, so all were one-for-one
        return folded, None
    return folded, [i for i, ch in enumerate(text) for _ in _TABLE[ord(ch)]]


def fold_term(term: str) -> str:
    """A term's canonical form (what the shared list stores): folded, outer space trimmed."""
    return fold_slowly(term.strip())[0].strip()


class Found(NamedTuple):
    """The terms one text matched and the text with each of them masked (a tuple: made for
    every message, and cheaper to build than a frozen dataclass)."""

    terms: tuple[str, ...]
    masked: str

    def __bool__(self) -> bool:
        return bool(self.terms)


class TermMatcher:
    """An immutable automaton over folded terms; rebuilt (and swapped) when the list changes."""

    def __init__(self, terms: Iterable[str]) -> None:
        keys = sorted({key for key in map(fold_term, terms) if key})
        self._keys = keys
        self.size = len(keys)
        self.longest = max(map(len, keys), default=0)
        # What could still begin a term: every proper prefix (the streaming hold-back).
        self._prefixes = {key[:n] for key in keys for n in range(1, len(key))}
        self._automaton = ahocorasick_rs.AhoCorasick(keys) if keys else None
        into = _folding_into() if keys else {}
        # The characters that fold into part of some term: a text without them needs no fold.
        # A class of BMP characters compiles to a bitmap (~10 ns a character searched); the few
        # astral ones (mathematical letters, CJK compatibility ideographs) are looked up in a set.
        relevant = set().union(*(into.get(char, ()) for char in set("".join(keys))))
        bmp = sorted(char for char in relevant if char <= "\uffff")
        self._relevant = re.compile("[" + "".join(map(re.escape, bmp)) + "]") if bmp else None
        self._relevant_astral = frozenset(char for char in relevant if char > "\uffff")

    def fold(self, text: str) -> Folding:
        """The text as the automaton reads it, and the index map (see `fold_slowly`)."""
        if text.isascii():
            return text.lower(), None
        lowered = text.casefold()
        if len(lowered) == len(text) and not self._needs_folding(lowered):
            return lowered, None  # nothing left that could fold into part of a term
        return fold_slowly(text)

    def _needs_folding(self, lowered: str) -> bool:
        if self._relevant is not None and self._relevant.search(lowered):
            return True
        return bool(self._relevant_astral) and not self._relevant_astral.isdisjoint(
            _ASTRAL.findall(lowered))

    def spans(self, text: str, folding: Folding | None = None) -> tuple[list[tuple[int, int]], set[str]]:
        """Original [start, end) ranges of every occurrence (overlapping ones included), and
        the terms found, in their folded forms; `folding` is `fold(text)` when already known."""
        if self._automaton is None or not text:
            return [], set()
        folded, index = folding or self.fold(text)
        found = self._automaton.find_matches_as_indexes(folded, overlapping=True)
        if not found:
            return [], set()
        if index is None:
            spans = [(start, end) for _, start, end in found]
        else:
            spans = [(index[start], index[end - 1] + 1) for _, start, end in found]
        return spans, {self._keys[pattern] for pattern, _, _ in found}

    def find(self, text: str) -> Found:
        """The matched terms (folded forms) and the text with each occurrence masked."""
        spans, terms = self.spans(text)
        return Found(tuple(sorted(terms)), masked(text, spans))

    def held_back(self, text: str, folding: Folding | None = None) -> int:
        """How many characters at the end of `text` could still begin a term."""
        if not self._prefixes:
            return 0
        folded, index = folding or self.fold(text)
        for size in range(min(self.longest - 1, len(folded)), 0, -1):
            if folded[-size:] in self._prefixes:
                start = len(folded) - size
                return len(text) - (start if index is None else index[start])
        return 0


def masked(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with every character inside a span replaced by the mask."""
    if not spans:
        return text
    parts: list[str] = []
    shown = 0  # where the text not yet copied starts
    for start, end in sorted(spans):
        if end <= shown:
            continue
        start = max(start, shown)
        parts += (text[shown:start], MASK * (end - start))
        shown = end
    parts.append(text[shown:])
    return "".join(parts)


class StreamFilter:
    """Feed deltas, get what is safe to show: text that can no longer be part of a term, masked.

    Only the few characters that could still begin a term are held back; they are released
    (masked where needed) as soon as the next delta settles them, or by `flush` at the end.
    """

    def __init__(self, matcher: TermMatcher) -> None:
        self._matcher = matcher
        self._pending = ""
        self._carried: list[tuple[int, int]] = []  # masks already found inside `_pending`
        self.terms: set[str] = set()

    def feed(self, delta: str) -> str:
        """The part of the text so far that is settled, masked; holds back the rest."""
        if not self._matcher.size:
            return delta
        self._pending += delta
        folding = self._matcher.fold(self._pending)  # the pending part is short: fold it once
        spans, terms = self._matcher.spans(self._pending, folding)
        self.terms |= terms
        spans += self._carried
        cut = len(self._pending) - self._matcher.held_back(self._pending, folding)
        settled, self._pending = self._pending[:cut], self._pending[cut:]
        # A term ending inside the held-back part still masks it once it is released.
        self._carried = [(max(s, cut) - cut, e - cut) for s, e in spans if e > cut]
        return masked(settled, [(s, min(e, cut)) for s, e in spans if s < cut])

    def flush(self) -> str:
        """Whatever is still held back, masked: the stream has ended."""
        rest, carried = self._pending, self._carried
        self._pending, self._carried = "", []
        found = self._matcher.find(rest)
        self.terms |= set(found.terms)
        return masked(found.masked, carried)
