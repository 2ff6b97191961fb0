"""The admin API: off without BOT_ADMIN_KEYS, its own keys, each endpoint's answers and errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.admin_helpers import ADMIN_KEY, admin, admin_get, admin_post, ask
from tests.conftest import API_KEY, ROOT, RunningService, StartService, base_config

ENV = {"BOT_ADMIN_KEYS": f"{ADMIN_KEY},second-admin-key"}
ENDPOINTS = [
    ("GET", "/admin"), ("GET", "/admin/api/usage"), ("GET", "/admin/api/users/webhook/alice"),
    ("POST", "/admin/api/users/webhook/alice/reset"), ("POST", "/admin/api/users/webhook/alice/block"),
    ("POST", "/admin/api/users/webhook/alice/unblock"), ("POST", "/admin/api/presets/reload"),
    ("GET", "/admin/api/jobs"), ("POST", "/admin/api/jobs/1-0/retry"), ("GET", "/admin/api/audit"),
]
API = [endpoint for endpoint in ENDPOINTS if endpoint[1] != "/admin"]


async def call(service: RunningService, method: str, path: str,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with service.http.request(method, f"{service.url}{path}", headers=headers) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


@pytest.fixture
async def service(start_service: StartService) -> RunningService:
    return await start_service(env=ENV)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_without_admin_keys_everything_under_admin_is_404(
    start_service: StartService, method: str, path: str
) -> None:
    service = await start_service()
    assert (await call(service, method, path, admin()))[0] == 404


@pytest.mark.parametrize(("method", "path"), API)
async def test_an_api_call_without_a_key_is_401(service: RunningService, method: str, path: str) -> None:
    status, body = await call(service, method, path)
    assert (status, body["error"]["type"]) == (401, "Unauthorized")


@pytest.mark.parametrize(("method", "path"), API)
async def test_a_chat_api_key_is_not_an_admin_key(service: RunningService, method: str, path: str) -> None:
    status, body = await call(service, method, path, admin(API_KEY))
    assert (status, body["error"]["message"]) == (401, "invalid admin key")


async def test_every_configured_admin_key_works(service: RunningService) -> None:
    assert (await call(service, "GET", "/admin/api/jobs", admin("second-admin-key")))[0] == 200


async def test_an_admin_key_does_not_open_the_chat_api(service: RunningService) -> None:
    async with service.http.post(f"{service.url}/api/chat", headers=admin(),
                                 json={"user": "u", "text": "hi"}) as response:
        assert response.status == 401


@pytest.mark.parametrize(("query", "message"), [
    ("by=planet", "'by' must be one of user, chat, account, platform, model"),
    ("from=2024-13-01", "'from' must be a date"), ("to=yesterday", "'to' must be a date"),
    ("from=2024-05-02&to=2024-05-01", "'from' must not be after 'to'"),
    ("from=2020-01-01&to=2024-01-01", "at most 366 days"), ("limit=0", "'limit' must be"),
])
async def test_usage_refuses_bad_parameters_with_400(
    service: RunningService, query: str, message: str
) -> None:
    status, body = await call(service, "GET", f"/admin/api/usage?{query}", admin())
    assert (status, body["error"]["type"]) == (400, "BadRequest")
    assert message in body["error"]["message"]


@pytest.mark.parametrize(("query", "message"), [
    ("since=last-week", "'since' must be a date"), ("format=xml", "'format' must be json or jsonl"),
    ("limit=abc", "'limit' must be"),
])
async def test_audit_refuses_bad_parameters_with_400(
    service: RunningService, query: str, message: str
) -> None:
    status, body = await call(service, "GET", f"/admin/api/audit?{query}", admin())
    assert status == 400
    assert message in body["error"]["message"]


async def test_a_bad_platform_name_is_400(service: RunningService) -> None:
    assert (await call(service, "GET", "/admin/api/users/we%20chat/x", admin()))[0] == 400


async def test_the_user_view_shows_history_preset_model_usage_and_quota(
    start_service: StartService,
) -> None:
    config = base_config(limits={"tokens_per_user_per_day": 100})
    service = await start_service(config=config, env=ENV)
    await ask(service, "alice", "/prompt translator")
    await ask(service, "alice", "hello")
    view = await admin_get(service, "/admin/api/users/webhook/alice")
    assert (view["history_turns"], view["preset"], view["model"], view["blocked"]) == (
        2, "translator", "gpt-4o-mini", False)
    assert (view["usage"]["totals"]["messages"], view["usage"]["totals"]["tokens_in"]) == (2, 5)
    assert view["quota"] == {"tokens_per_user_per_day": 100, "used_today": 8, "left_today": 92}


async def test_a_stranger_has_an_empty_view(service: RunningService) -> None:
    view = await admin_get(service, "/admin/api/users/wechat/o_nobody")
    assert (view["history_turns"], view["usage"]["totals"]["messages"], view["quota"]["left_today"]) \
        == (0, 0, None)


async def test_reset_forgets_the_users_conversation(service: RunningService) -> None:
    await ask(service, "alice", "remember this")
    assert await admin_post(service, "/admin/api/users/webhook/alice/reset") == {
        "reset": True, "user": "webhook:alice"}
    assert (await admin_get(service, "/admin/api/users/webhook/alice"))["history_turns"] == 0


async def test_a_blocked_user_gets_no_answer_until_unblocked(
    start_service: StartService, redis_url: str
) -> None:
    first = await start_service(env={**ENV, "REDIS_URL": redis_url})
    second = await start_service(env={**ENV, "REDIS_URL": redis_url})
    await admin_post(first, "/admin/api/users/webhook/mallory/block")
    assert (await admin_get(second, "/admin/api/users/webhook/mallory"))["blocked"] is True
    async with second.http.post(f"{second.url}/api/chat", headers=second.auth(),
                                json={"user": "mallory", "text": "hi"}) as response:
        assert response.status == 403  # the webhook's answer for a user the pipeline ignores
    await admin_post(first, "/admin/api/users/webhook/mallory/unblock")
    assert await ask(second, "mallory") == "You said: hi"


async def test_presets_reload_reaches_every_instance(
    start_service: StartService, redis_url: str, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "assistant.md").write_text((ROOT / "prompts" / "assistant.md").read_text())
    config = base_config(prompts={"dir": str(prompts)})
    first = await start_service(config=config, env={**ENV, "REDIS_URL": redis_url})
    second = await start_service(config=config, env={**ENV, "REDIS_URL": redis_url})
    (prompts / "pirate.md").write_text("---\nname: pirate\ndescription: Arr\n---\nTalk like a pirate.\n")
    result = await admin_post(first, "/admin/api/presets/reload")
    assert result["presets"] == ["assistant", "pirate"]
    for _ in range(100):
        if "pirate" in second.services.presets:
            break
        await asyncio.sleep(0.05)
    assert second.services.presets.names() == ["assistant", "pirate"]


async def test_jobs_lists_the_three_states(service: RunningService) -> None:
    jobs = await admin_get(service, "/admin/api/jobs")
    assert (jobs["kind"], jobs["pending"], jobs["running"], jobs["dead"]) == ("memory", [], [], [])


async def test_retrying_an_unknown_job_is_404(service: RunningService) -> None:
    status, body = await call(service, "POST", "/admin/api/jobs/12345-0/retry", admin())
    assert (status, body["error"]["type"]) == (404, "NotFound")


async def test_a_dead_letter_is_listed_and_retried_through_the_api(
    start_service: StartService, redis_url: str
) -> None:
    config = base_config(storage={"job_claim_idle": 0.5})  # failed attempts come back quickly
    service = await start_service(config=config, env={**ENV, "REDIS_URL": redis_url})
    jobs, healthy, done = service.services.jobs, False, asyncio.Event()

    async def flaky(payload: dict[str, Any]) -> None:
        if not healthy:
            raise RuntimeError("down")
        done.set()

    jobs.register("test.flaky", flaky)
    await jobs.enqueue("test.flaky", {"n": 1})
    dead: list[dict[str, Any]] = []
    for _ in range(300):
        if dead := (await admin_get(service, "/admin/api/jobs"))["dead"]:
            break
        await asyncio.sleep(0.05)
    assert [(j["name"], j["state"], j["attempts"]) for j in dead] == [("test.flaky", "dead", 5)]
    healthy = True
    assert await admin_post(service, f"/admin/api/jobs/{dead[0]['id']}/retry") == {
        "retried": True, "id": dead[0]["id"]}
    await asyncio.wait_for(done.wait(), 10)
    assert (await admin_get(service, "/admin/api/jobs"))["dead"] == []
