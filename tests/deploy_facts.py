"""What the deployment files are checked against: the serve command, the variables the code reads."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

SERVE = ["python", "-m", "bot", "serve"]


def variables_the_code_reads() -> set[str]:
    """Every `env="NAME"` passed to the typed config reader in bot/ and adapters/."""
    names = set()
    for package in ("bot", "adapters"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    names |= {k.value.value for k in node.keywords if k.arg == "env"
                              and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
    return names


def healthcheck_url(command: str) -> str:
    """The URL a health-check command asks."""
    match = re.search(r"https?://[^'\"\s]+", command)
    assert match, f"no URL in the health check: {command}"
    return match.group(0)
