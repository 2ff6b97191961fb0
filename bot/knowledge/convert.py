"""Documents to Markdown-shaped text with their structure (headings, pages) kept, by well-kept
libraries: pypdf, python-docx and markdownify. Each is imported only when a file needs it."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx"})


class ConversionError(ValueError):
    """A file that could not be read as its type says."""


@dataclass(frozen=True, slots=True)
class Part:
    """Text of one document, or of one page of it; `page` names the page for citations."""

    text: str
    page: str = ""


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")  # the other encoding Chinese files use


def _html(data: bytes) -> list[Part]:
    from markdownify import markdownify

    text: str = markdownify(_decode(data), heading_style="ATX", strip=["img"])
    return [Part(text)]


def _pdf(data: bytes) -> list[Part]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ConversionError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    return [Part(text, f"p. {number}") for number, text in enumerate(pages, 1) if text.strip()]


def _docx_table(table: Any) -> str:
    rows = [" | ".join(cell.text.strip().replace("\n", " ") for cell in row.cells)
            for row in table.rows]
    if not rows:
        return ""
    width = rows[0].count("|") + 1
    return "\n".join([f"| {rows[0]} |", "|" + " --- |" * width, *(f"| {r} |" for r in rows[1:])])


def _docx_paragraph(paragraph: Any) -> str:
    """A paragraph as Markdown: Word's title and heading styles become `#` headings (the title
    above Heading 1), list styles bullets."""
    text = str(paragraph.text).strip()
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if match := re.fullmatch(r"Heading (\d)", style):
        return f"{'#' * min(int(match.group(1)) + 1, 6)} {text}" if text else ""
    if style == "Title":
        return f"# {text}" if text else ""
    if style.startswith("List") and text:
        return f"- {text}"
    return text


def _docx(data: bytes) -> list[Part]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise ConversionError(f"not a readable DOCX ({type(exc).__name__})") from None
    blocks = [_docx_table(item) if isinstance(item, Table) else _docx_paragraph(item)
              for item in document.iter_inner_content()]
    return [Part("\n\n".join(block for block in blocks if block))]


def convert(path: PurePath, data: bytes) -> list[Part]:
    """The text of a file, by its suffix; raises ConversionError for an unreadable file."""
    suffix = path.suffix.lower()
    if suffix in {".md", ".markdown", ".txt"}:
        return [Part(_decode(data))]
    if suffix in {".html", ".htm"}:
        return _html(data)
    if suffix == ".pdf":
        return _pdf(data)
    if suffix == ".docx":
        return _docx(data)
    raise ConversionError(f"unsupported file type {suffix!r}")
