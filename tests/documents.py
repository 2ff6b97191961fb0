"""Sample documents of every supported type, written the way their own tools write them
(python-docx for DOCX; a small but complete PDF with a text layer for PDF)."""

from __future__ import annotations

from pathlib import Path

import docx


def pdf_bytes(pages: list[str]) -> bytes:
    """A PDF 1.4 file with one line of Helvetica text per page (catalog, pages, font, xref)."""
    count = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(f"{4 + 2 * i} 0 R".encode()
                                                      for i in range(count))
               + f"] /Count {count} >>".encode(),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for index, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources "
                       f"<< /Font << /F1 3 0 R >> >> /Contents {5 + 2 * index} 0 R >>".encode())
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream
                       + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_docx(path: Path, title: str, sections: dict[str, str]) -> None:
    """A Word document with a title, Heading 1 sections and a table."""
    document = docx.Document()
    document.add_heading(title, level=0)
    for heading, text in sections.items():
        document.add_heading(heading, level=1)
        document.add_paragraph(text)
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, (("plan", "price"), ("basic", "10 yuan")), strict=True):
        for cell, value in zip(row.cells, cells, strict=True):
            cell.text = value
    document.save(str(path))


def write_library(folder: Path) -> dict[str, Path]:
    """One document of each type, each about something the others do not mention."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "md": folder / "handbook.md",
        "txt": folder / "notes.txt",
        "html": folder / "shipping.html",
        "pdf": folder / "manual.pdf",
        "docx": folder / "warranty.docx",
    }
    files["md"].write_text(
        "# Handbook\n\nWelcome to the shop.\n\n## Refunds\n\nRefunds are paid within 30 days "
        "of the purchase, to the original card.\n\n## Opening hours\n\nThe shop opens at nine.",
        encoding="utf-8")
    files["txt"].write_text("Parking is free behind the building for customers.\n",
                            encoding="utf-8")
    files["html"].write_text(
        "<html><head><script>var secret = 1;</script></head><body><h1>Shipping</h1>"
        "<p>Parcels ship by courier in two working days.</p></body></html>", encoding="utf-8")
    files["pdf"].write_bytes(pdf_bytes(["Safety: unplug the kettle before cleaning it.",
                                        "Descaling: use vinegar once a month."]))
    write_docx(files["docx"], "Warranty", {"Coverage": "The warranty covers two years of repairs."})
    return files
