"""`python -m bot serve | chat | check`: the composition root (the only module importing adapters)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from adapters import COMMANDS, ENABLED
from bot.cli import main


def run(argv: Sequence[str]) -> int:
    """The command line with every platform's adapter and operator commands wired in."""
    return main(argv, ENABLED, COMMANDS)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
