"""Platform adapters. Adding a platform is one package and one line in `ENABLED`."""

from __future__ import annotations

from adapters import feishu, webhook, wechat
from bot.platform import AdapterFactory

ENABLED: tuple[AdapterFactory, ...] = (
    wechat.create,
    feishu.create,
    webhook.create,
)
