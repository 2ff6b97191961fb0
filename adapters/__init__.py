"""Platform adapters. Adding a platform is one package and one line in `ENABLED`."""

from __future__ import annotations

from adapters import feishu, webhook, wechat
from bot.platform import AdapterFactory, OperatorCommands

ENABLED: tuple[AdapterFactory, ...] = (
    wechat.create,
    feishu.create,
    webhook.create,
)

COMMANDS: tuple[OperatorCommands, ...] = (wechat.COMMANDS,)
"""The platforms with operator commands (`python -m bot wechat menu push`)."""
