"""Platform adapters. Adding a platform is one package and one line in `ENABLED`."""

from __future__ import annotations

from adapters import webhook
from bot.platform import AdapterFactory

ENABLED: tuple[AdapterFactory, ...] = (
    webhook.create,
)
