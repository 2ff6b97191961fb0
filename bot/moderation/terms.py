"""The term matcher: Aho-Corasick (pyahocorasick) over folded text, and its streaming filter.

Folding makes case and width irrelevant: each character is replaced by its compatibility
decomposition (NFKD), case-folded, so "ＡＢＣ", "ABC" and "abc" are one term, and so are
"ｶﾞ" and "ガ". Folding is per character, which keeps a map from folded positions back to the
original ones: a mask replaces exactly the original characters, so the text keeps its length.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

MASK = "*"


class _FoldTable(dict[int, str]):
    """Code point -> folded text, filled the first time a character is seen (str.translate
    looks each character up here at C speed; only a new character costs a Python call)."""

    def __missing__(self, code: int) -> str:
        folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", chr(code)).casefold())
        self[code] = folded
        return folded


_TABLE = _FoldTable()


def fold(text: str) -> tuple[str, list[int] | None]:
    """The folded text, and for each folded position its original index (None when folding
    kept every character one-for-one, the common case, so no map is needed)."""
    if text.isascii():
        return text.lower(), None
    folded = text.translate(_TABLE)
    if len(folded) == len(text):  # no character folds to nothing, so all were one-for-one
        return folded, None
    return folded, [i for i, ch in enumerate(text) for _ in _TABLE[ord(ch)]]


def fold_term(term: str) -> str:
    """A term's canonical form (what the shared list stores): folded, outer space trimmed."""
    return fold(term.strip())[0].strip()


@dataclass(frozen=True, slots=True)
class Found:
    """The terms one text matched and the text with each of them masked."""

    terms: tuple[str, ...]
    masked: str

    def __bool__(self) -> bool:
        return bool(self.terms)


class TermMatcher:
    """An immutable automaton over folded terms; rebuilt (and swapped) when the list changes."""

    def __init__(self, terms: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        longest = 0
        for term in terms:
            key = fold_term(term)
            if key and not self._automaton.exists(key):
                self._automaton.add_word(key, (len(key), key))
                longest = max(longest, len(key))
        self.size: int = len(self._automaton)
        self.longest = longest
        if self.size:
            self._automaton.make_automaton()

    def _spans(self, folded: str, index: list[int] | None) -> tuple[list[tuple[int, int]], set[str]]:
        """Original [start, end) ranges of every occurrence (overlapping ones included)."""
        spans, terms = [], set()
        for end, (length, key) in self._automaton.iter(folded):
            start = end - length + 1
            if index is None:
                spans.append((start, end + 1))
            else:
                spans.append((index[start], index[end] + 1))
            terms.add(key)
        return spans, terms

    def find(self, text: str) -> Found:
        """The matched terms (folded forms) and the text with each occurrence masked."""
        if not self.size or not text:
            return Found((), text)
        spans, terms = self._spans(*fold(text))
        if not spans:
            return Found((), text)
        return Found(tuple(sorted(terms)), _masked(text, spans))

    def held_back(self, folded: str) -> int:
        """How many folded characters at the end could still begin a term (a prefix of one)."""
        for size in range(min(self.longest, len(folded)), 0, -1):
            if self._automaton.match(folded[-size:]):
                return size
        return 0


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = MASK * (end - start)
    return "".join(chars)


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
        folded, index = fold(self._pending)
        spans, terms = self._matcher._spans(folded, index)
        self.terms |= terms
        spans += self._carried
        keep = self._matcher.held_back(folded)
        if not keep:
            cut = len(self._pending)
        else:
            cut = len(folded) - keep if index is None else index[len(folded) - keep]
        settled, self._pending = self._pending[:cut], self._pending[cut:]
        # A term ending inside the held-back part still masks it once it is released.
        self._carried = [(max(s, cut) - cut, e - cut) for s, e in spans if e > cut]
        return _masked(settled, [(s, min(e, cut)) for s, e in spans if s < cut])

    def flush(self) -> str:
        """Whatever is still held back, masked: the stream has ended."""
        rest, carried = self._pending, self._carried
        self._pending, self._carried = "", []
        found = self._matcher.find(rest)
        self.terms |= set(found.terms)
        return _masked(found.masked, carried)
