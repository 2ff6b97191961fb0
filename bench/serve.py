"""The service under test: `python -m bot serve` with every adapter wired in.

Same composition as `bot/__main__.py` (bot.cli.main), plus the WeChat and Feishu adapters in case
`adapters.ENABLED` does not list them yet.
"""

from __future__ import annotations

import sys

from adapters import ENABLED, feishu, webhook, wechat
from bot.cli import main

FACTORIES = tuple(dict.fromkeys((*ENABLED, webhook.create, wechat.create, feishu.create)))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], FACTORIES))
