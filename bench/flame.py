"""Top entries of a py-spy raw profile (`python -m bench ... --profile` writes them).

`python -m bench.flame FILE [--top N]`: the functions with the most samples on top of the stack
(self), and each sample charged to the innermost of the project's own functions (bot/, adapters/)
on its stack (what our code spent, itself or in the libraries it called), as percentages of all
samples.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^:]+)(?::\d+)?\)$")
_OURS = ("bot/", "adapters/")


def _frame(raw: str) -> tuple[str, str]:
    """`name (path:line)` -> (`name`, shortened path); the line is dropped so a function is one entry."""
    match = _FRAME.match(raw)
    if not match:
        return raw, ""
    path = match["file"]
    for cut in ("site-packages/", "lib/python3.11/"):
        path = path.split(cut, 1)[-1]
    return match["name"], path


def tally(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """All samples, self samples per function, samples per innermost project function."""
    total, own, inclusive = 0, Counter[str](), Counter[str]()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_frame(f) for f in stack.split(";")]
        name, file = frames[-1]
        own[f"{name} ({file})"] += n
        ours = [f"{name} ({file})" for name, file in frames if file.startswith(_OURS)]
        inclusive[ours[-1] if ours else "(outside the project: event loop, libraries)"] += n
    return total, own, inclusive


def report(path: Path, top: int) -> str:
    """Markdown: the two top lists."""
    total, own, inclusive = tally(path)
    lines = [f"{path.name}: {total} samples", "", "| self % | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{key}` |" for key, n in own.most_common(top)]
    lines += ["", "| % | innermost project function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{key}` |" for key, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(prog="python -m bench.flame")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    for file in args.files:
        sys.stdout.write(report(file, args.top) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
