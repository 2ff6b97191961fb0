"""Storage: one small Protocol, a Redis and an in-process implementation."""

from __future__ import annotations

import logging
import os
import socket

from bot.settings import StorageSettings
from bot.storage.base import Doc, Put, Storage, Turn
from bot.storage.connect import parse
from bot.storage.memory import MemoryStorage
from bot.storage.redis import RedisStorage
from bot.storage.replicas import Replicas, replicas_for

__all__ = ["Doc", "MemoryStorage", "Put", "RedisStorage", "Storage", "Turn", "client_name", "open_storage",
           "replicas"]

log = logging.getLogger(__name__)


def client_name() -> str:
    """How this instance's Redis connections are named (CLIENT LIST shows who holds what)."""
    return f"imbot-{socket.gethostname()}-{os.getpid()}"


_REPLICAS: dict[tuple[str, int | None, float], Replicas | None] = {}


def replicas(settings: StorageSettings) -> Replicas | None:
    """The replicas a critical write waits for (`storage.replica_acks`); None for none. The same
    object for the storage and the job queue of this process: they share a view of the master."""
    key = (settings.redis_url.reveal(), settings.replica_acks, settings.replica_wait)
    if key not in _REPLICAS:
        _REPLICAS[key] = replicas_for(parse(key[0]), settings.replica_acks, settings.replica_wait)
    return _REPLICAS[key]


def open_storage(settings: StorageSettings) -> Storage:
    """Redis when `REDIS_URL` is set, else memory (and say what that means)."""
    if settings.redis_url:
        return RedisStorage(settings.redis_url.reveal(), prefix=settings.key_prefix,
                            max_connections=settings.max_connections, name=client_name(),
                            replicas=replicas(settings))
    log.warning(
        "storage: REDIS_URL is not set; using in-process memory "
        "(single instance only, history is lost on restart)"
    )
    return MemoryStorage()
