"""The service under test: the same composition as `python -m bot serve` (bot/__main__.py)."""

from __future__ import annotations

import sys

from adapters import ENABLED
from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], ENABLED))
