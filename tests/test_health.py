"""/livez, /readyz and /healthz: what a load balancer and an orchestrator read."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bot.jobs import RedisJobs
from tests.conftest import RunningService, StartService
from tests.redis_proc import RedisProcess


async def get(service: RunningService, path: str) -> tuple[int, Any]:
    async with service.http.get(f"{service.url}{path}") as response:
        return response.status, await response.json()


async def until_ready(service: RunningService) -> tuple[int, Any]:
    for _ in range(100):
        status, body = await get(service, "/readyz")
        if status == 200:
            break
        await asyncio.sleep(0.05)
    return status, body


async def test_livez_answers_while_the_loop_runs(start_service: StartService) -> None:
    assert await get(await start_service(), "/livez") == (200, {"live": True})


async def test_readyz_is_200_with_storage_jobs_and_feed_up(start_service: StartService,
                                                             redis_url: str) -> None:
    service = await start_service(env={"REDIS_URL": redis_url})
    assert await until_ready(service) == (200, {"ready": True})


async def test_readyz_is_503_with_the_reason_when_redis_is_gone(start_service: StartService,
                                                                tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    service = await start_service(env={"REDIS_URL": redis.url})
    await until_ready(service)
    redis.stop()
    status, body = await get(service, "/readyz")
    assert (status, body["ready"]) == (503, False)
    assert "storage unreachable" in body["reasons"]


async def test_healthz_reports_the_job_consumer(start_service: StartService, redis_url: str) -> None:
    service = await start_service(env={"REDIS_URL": redis_url})
    await until_ready(service)
    status, body = await get(service, "/healthz")
    assert (status, body["jobs"]["state"], body["jobs"]["stuck"]) == (200, "reading", False)
    assert body["jobs"]["last_read_age"] is not None


async def test_a_stuck_job_consumer_makes_the_instance_unhealthy_and_not_ready(
    start_service: StartService, redis_url: str
) -> None:
    service = await start_service(env={"REDIS_URL": redis_url})
    await until_ready(service)
    jobs = service.services.jobs
    assert isinstance(jobs, RedisJobs)
    jobs._last_read = time.monotonic() - 3600  # a read that never came back
    (status, body), (ready, why) = await get(service, "/healthz"), await get(service, "/readyz")
    assert (status, body["status"]) == (503, "unhealthy")
    assert (ready, "job consumer stuck" in why["reasons"]) == (503, True)
