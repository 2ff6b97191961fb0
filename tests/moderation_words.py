"""The moderation tests' term list on disk, and one question to the HTTP API whose answer it checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import RunningService

TERMS = ["confidential", "敏感词"]


def words_file(tmp_path: Path, terms: list[str] = TERMS) -> str:
    """A words file with a comment line and `terms`, one a line; its path."""
    path = tmp_path / "words.txt"
    path.write_text("# terms the bot must never say\n" + "\n".join(terms) + "\n", encoding="utf-8")
    return str(path)


async def ask(service: RunningService, text: str, user: str = "alice") -> dict[str, Any]:
    """POST /api/chat as `user`; the 200 answer's JSON body."""
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text}) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body
