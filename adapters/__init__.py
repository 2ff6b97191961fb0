"""Platform adapters. Adding a platform is one package and one line in `PLATFORMS`."""

from __future__ import annotations

from adapters import feishu, webhook, wechat
from bot.platform import AdapterFactory, OperatorCommands

PLATFORMS = (wechat, feishu, webhook)
"""Each package's `create` builds its adapter; a package's `COMMANDS`, when it has one, adds its
operator subcommand (`python -m bot wechat menu push`)."""

ENABLED: tuple[AdapterFactory, ...] = tuple(package.create for package in PLATFORMS)

COMMANDS: tuple[OperatorCommands, ...] = tuple(
    package.COMMANDS for package in PLATFORMS if hasattr(package, "COMMANDS"))
