"""Storage: one small Protocol, a Redis and an in-process implementation."""

from __future__ import annotations

import logging

from bot.settings import StorageSettings
from bot.storage.base import Doc, Put, Storage, Turn
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage

__all__ = ["Doc", "MemoryStorage", "Put", "RedisStorage", "Storage", "Turn", "open_storage"]

log = logging.getLogger(__name__)


def open_storage(settings: StorageSettings) -> Storage:
    """Redis when `REDIS_URL` is set, else memory (and say what that means)."""
    if settings.redis_url:
        return RedisStorage(settings.redis_url.reveal(), prefix=settings.key_prefix)
    log.warning(
        "storage: REDIS_URL is not set; using in-process memory "
        "(single instance only, history is lost on restart)"
    )
    return MemoryStorage()
