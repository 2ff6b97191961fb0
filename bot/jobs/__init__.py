"""Durable background jobs: Redis Streams when Redis is configured, an in-process queue otherwise.

Work acknowledged before it is answered (a Feishu event, an async API call) is recorded here, so
a crash or a deploy does not lose it: any instance may finish it. Handlers must be safe to run
again (keep a delivery record), since a job whose worker died is retried.
"""

from __future__ import annotations

from bot.jobs.base import ConsumerHealth, Handler, JobQueue
from bot.jobs.memory import MemoryJobs
from bot.jobs.redis import RedisJobs
from bot.settings import StorageSettings
from bot.storage import client_name, replicas
from bot.tasks import TaskOwner

__all__ = ["ConsumerHealth", "Handler", "JobQueue", "MemoryJobs", "RedisJobs", "open_jobs"]


def open_jobs(settings: StorageSettings, tasks: TaskOwner) -> JobQueue:
    """The queue matching the storage backend."""
    if settings.redis_url:
        return RedisJobs(settings.redis_url.reveal(), settings.key_prefix, tasks,
                         concurrency=settings.job_concurrency, claim_idle=settings.job_claim_idle,
                         max_connections=settings.job_connections, name=client_name(),
                         replicas=replicas(settings))
    return MemoryJobs(tasks, concurrency=settings.job_concurrency)
