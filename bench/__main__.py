"""`python -m bench [--quick | --full]`, and `python -m bench soak [--short]` (bench/soak.py)."""

from __future__ import annotations

import sys

from bench.run import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["soak"]:
        from bench.soak import main as soak

        sys.exit(soak(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
