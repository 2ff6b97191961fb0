"""Cutting a document into passages by its structure: each heading starts a section, sections are
cut at paragraphs (a paragraph too long for one passage at sentences), and consecutive passages of
one section overlap so a sentence at a cut is still found with its context."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.knowledge.convert import Part

CHUNKER_VERSION = "1"  # part of every file's index key: a new cutting rule re-indexes everything
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE = re.compile(r"(?<=[.!?。！？；;])\s*")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage and where it is: the heading path ("Setup › Linux") and/or the page."""

    text: str
    section: str = ""

    def embedding_input(self, document: str) -> str:
        """What is embedded: the passage with its document and headings, which carry meaning."""
        where = f"{document} › {self.section}" if self.section else document
        return f"{where}\n\n{self.text}"


def _sections(text: str) -> Iterator[tuple[list[str], list[str]]]:
    """(heading path, paragraphs) per section; fenced code stays one paragraph."""
    path: list[str] = []
    paragraphs: list[str] = []
    current: list[str] = []
    fenced = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading or (not fenced and not line.strip()):
            if current:
                paragraphs.append("\n".join(current).strip())
                current = []
            if heading:
                if paragraphs:
                    yield list(path), paragraphs
                    paragraphs = []
                level = len(heading.group(1))
                path = [*path[: level - 1], heading.group(2).strip()]
            continue
        current.append(line.rstrip())
    if current:
        paragraphs.append("\n".join(current).strip())
    if paragraphs:
        yield list(path), paragraphs


def _pieces(paragraph: str, size: int) -> list[str]:
    """A paragraph in pieces of at most `size` characters, cut after sentences when possible."""
    if len(paragraph) <= size:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE.split(paragraph) if s):
        while len(sentence) > size:  # one very long sentence: cut at a space, or hard
            cut = sentence.rfind(" ", size // 2, size)
            cut = cut if cut > 0 else size
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip() if current else sentence
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def _tail(text: str, overlap: int) -> str:
    """The end of a passage carried into the next one, starting at a word or sentence."""
    if overlap <= 0 or len(text) <= overlap:
        return text if overlap > 0 else ""
    tail = text[-overlap:]
    for boundary in ("\n", ". ", "。", " "):
        at = tail.find(boundary)
        if 0 <= at < len(tail) // 2:
            return tail[at + len(boundary):].strip()
    return tail.strip()


def _pack(paragraphs: Sequence[str], size: int, overlap: int) -> list[str]:
    # room for the carried tail and its paragraph break, so no passage exceeds `size`
    pieces = [piece for p in paragraphs for piece in _pieces(p, size - overlap - 2)]
    passages: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > size:
            passages.append(current)
            carried = _tail(current, overlap)
            current = f"{carried}\n\n{piece}" if carried else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        passages.append(current)
    return passages


def chunk(parts: Sequence[Part], size: int, overlap: int) -> list[Chunk]:
    """The passages of a document, in order."""
    chunks: list[Chunk] = []
    for part in parts:
        for path, paragraphs in _sections(part.text):
            section = " › ".join([*path, part.page] if part.page else path)
            chunks.extend(Chunk(text, section) for text in _pack(paragraphs, size, overlap))
    return chunks
