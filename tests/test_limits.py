"""Abuse controls: block- and allow-lists, the per-minute rate and the daily quota."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI


async def ask(service: RunningService, user: str, text: str = "hi") -> dict[str, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text}) as response:
        result: dict[str, Any] = await response.json()
        return result


async def test_a_user_over_the_minute_rate_gets_a_polite_refusal(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(limits={"per_user_per_minute": 2}))
    answers = [await ask(service, "flood") for _ in range(3)]
    assert "faster than I can answer" in answers[2]["reply"]
    assert len(fake_openai.chat_calls) == 2


async def test_the_rate_is_counted_per_user(start_service: StartService) -> None:
    service = await start_service(config=base_config(limits={"per_user_per_minute": 1}))
    await ask(service, "alice")
    assert (await ask(service, "bob"))["reply"] == "You said: hi"


async def test_the_daily_quota_refuses_politely(start_service: StartService) -> None:
    service = await start_service(config=base_config(limits={"per_user_per_day": 1}))
    await ask(service, "alice")
    assert "today's message limit" in (await ask(service, "alice"))["reply"]


async def test_limits_are_shared_by_instances_on_one_redis(
    start_service: StartService, redis_url: str
) -> None:
    config = base_config(limits={"per_user_per_minute": 1})
    first = await start_service(config=config, env={"REDIS_URL": redis_url})
    second = await start_service(config=config, env={"REDIS_URL": redis_url})
    await ask(first, "alice")
    assert "faster than I can answer" in (await ask(second, "alice"))["reply"]


async def test_a_blocked_user_gets_no_answer_and_costs_nothing(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(limits={"block": {"webhook": ["mallory"]}}))
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "mallory", "text": "hi"}) as response:
        assert response.status == 403
    assert fake_openai.chat_calls == []


async def test_an_allow_list_admits_only_its_users(start_service: StartService) -> None:
    service = await start_service(config=base_config(limits={"allow": {"webhook": ["alice"]}}))
    assert (await ask(service, "alice"))["reply"] == "You said: hi"
    assert "not available to you" in (await ask(service, "bob"))["reply"]


async def test_an_allow_list_for_another_platform_leaves_this_one_open(
    start_service: StartService,
) -> None:
    service = await start_service(config=base_config(limits={"allow": {"wechat": ["o1"]}}))
    assert (await ask(service, "anyone"))["reply"] == "You said: hi"
