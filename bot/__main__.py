"""`python -m bot serve | chat | check`: the composition root (the only module importing adapters)."""

from __future__ import annotations

import sys

from adapters import COMMANDS, ENABLED
from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], ENABLED, COMMANDS))
