"""The layout is the architecture: the core never imports a platform adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CORE = sorted(p for p in (ROOT / "bot").rglob("*.py") if p.name != "__main__.py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_adapters(path: Path) -> None:
    leaks = {m for m in imported_modules(path) if m == "adapters" or m.startswith("adapters.")}
    assert not leaks, f"{path.name} imports {leaks}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_platform_sdks(path: Path) -> None:
    sdks = {m for m in imported_modules(path) if m.split(".")[0] in {"wechatpy", "lark_oapi"}}
    assert not sdks, f"{path.name} imports {sdks}"


def test_modules_stay_within_the_size_budget() -> None:
    # CONTRIBUTING.md: modules under ~300 lines
    sources = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]
    oversized = {str(p.relative_to(ROOT)): n for p in sources
                 if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not oversized


def test_start_up_loads_no_library_only_some_services_need() -> None:
    # lark-oapi (~140 MB: only the long connection), PyAV (~19 MB: only voice) and numpy
    # (~13 MB: only a knowledge base) load when used, not with the service's modules.
    probe = ("import sys; import adapters, bot.app, bot.cli, bot.core; "
             "print(sorted({'lark_oapi', 'av', 'numpy'} & set(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"
