"""Storage: one small Protocol, a Redis and an in-process implementation."""

from __future__ import annotations

import logging
import os
import socket

from bot.settings import StorageSettings
from bot.storage.base import Doc, Put, Storage, Turn
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage

__all__ = ["Doc", "MemoryStorage", "Put", "RedisStorage", "Storage", "Turn", "client_name", "open_storage"]

log = logging.getLogger(__name__)


def client_name() -> str:
    """How this instance's Redis connections are named (CLIENT LIST shows who holds what)."""
    return f"imbot-{socket.gethostname()}-{os.getpid()}"


def open_storage(settings: StorageSettings) -> Storage:
    """Redis when `REDIS_URL` is set, else memory (and say what that means)."""
    if settings.redis_url:
        return RedisStorage(settings.redis_url.reveal(), prefix=settings.key_prefix,
                            max_connections=settings.max_connections, name=client_name())
    log.warning(
        "storage: REDIS_URL is not set; using in-process memory "
        "(single instance only, history is lost on restart)"
    )
    return MemoryStorage()
