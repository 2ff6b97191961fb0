"""The audit trail: what is recorded, masking, search, JSONL export (API and CLI), retention cap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.audit import mask
from tests.admin_helpers import ADMIN_KEY, admin, admin_get, admin_post, ask
from tests.cli_run import environment, run, spawn
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI

ENV = {"BOT_ADMIN_KEYS": ADMIN_KEY}
PRIVATE = "call 13812345678 or mail li.lei@example.com, ID 11010519491231002X"
MASKED = "call [phone] or mail [email], ID [id]"


def audited(**audit: Any) -> dict[str, Any]:
    return base_config(audit={"enabled": True, **audit})


async def entries(service: RunningService, query: str = "") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await admin_get(service, f"/admin/api/audit?{query}"))["entries"]
    return [e for e in found if e["kind"] != "admin"]


@pytest.mark.parametrize(("text", "masked"), [
    ("13812345678", "[phone]"), ("+86 138 1234 5678", "[phone]"), ("+44 20 7946 0958", "[phone]"),
    ("(555) 123-4567", "[phone]"), ("11010519491231002X", "[id]"), ("110105491231002", "[id]"),
    ("a.b+c@mail.example.org", "[email]"), ("order 12345, 2024-05-01 10:30", "order 12345, 2024-05-01 10:30"),
])
def test_mask_replaces_phones_id_numbers_and_emails_only(text: str, masked: str) -> None:
    assert mask(text) == masked


async def test_the_audit_is_off_by_default(start_service: StartService) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice", "hello")
    assert await entries(service) == []


async def test_a_message_and_its_answer_are_recorded(start_service: StartService) -> None:
    service = await start_service(config=audited(), env=ENV)
    await ask(service, "alice", "hello")
    answer, message = await entries(service)  # newest first
    assert (message["kind"], message["user"], message["text"]) == ("message", "webhook:alice", "hello")
    assert (answer["kind"], answer["text"], answer["model"]) == ("answer", "You said: hello",
                                                                 "gpt-4o-mini")
    assert (answer["tokens_in"], answer["tokens_out"]) == (5, 3)


async def test_a_command_is_recorded_as_a_command(start_service: StartService) -> None:
    service = await start_service(config=audited(), env=ENV)
    await ask(service, "alice", "/reset")
    assert [e["kind"] for e in await entries(service)] == ["reply", "command"]


async def test_texts_are_masked_before_they_are_stored(start_service: StartService) -> None:
    service = await start_service(config=audited(), env=ENV)
    await ask(service, "alice", PRIVATE)
    answer, message = await entries(service)
    assert message["text"] == MASKED
    assert answer["text"] == f"You said: {MASKED}"


async def test_without_masking_the_text_is_kept_as_it_was(start_service: StartService) -> None:
    service = await start_service(config=audited(mask=False), env=ENV)
    await ask(service, "alice", PRIVATE)
    assert (await entries(service))[1]["text"] == PRIVATE


async def test_search_filters_by_user_and_text(start_service: StartService) -> None:
    service = await start_service(config=audited(), env=ENV)
    await ask(service, "alice", "the weather please")
    await ask(service, "bob", "the weather please")
    await ask(service, "alice", "something else")
    found = await entries(service, "user=webhook:alice&q=WEATHER")
    assert [(e["user"], e["kind"]) for e in found] == [("webhook:alice", "answer"),
                                                      ("webhook:alice", "message")]


async def test_search_since_leaves_out_older_entries(start_service: StartService) -> None:
    service = await start_service(config=audited(), env=ENV)
    await ask(service, "alice", "old")
    assert await entries(service, "since=2999-01-01") == []
    assert len(await entries(service, "since=2000-01-01")) == 2


async def test_the_api_exports_jsonl_oldest_first(start_service: StartService) -> None:
    service = await start_service(config=audited(), env=ENV)
    await ask(service, "alice", PRIVATE)
    async with service.http.get(f"{service.url}/admin/api/audit?since=2000-01-01&format=jsonl",
                                headers=admin()) as response:
        assert response.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in (await response.text()).splitlines()]
    kinds = [e["kind"] for e in lines if e["kind"] != "admin"]
    assert kinds == ["message", "answer"]
    assert lines[0]["text"] == MASKED


async def test_admin_actions_are_recorded_even_with_the_audit_off(start_service: StartService) -> None:
    service = await start_service(env=ENV)
    await admin_post(service, "/admin/api/users/webhook/alice/block")
    found = (await admin_get(service, "/admin/api/audit?user=webhook:alice"))["entries"]
    assert [(e["kind"], e["action"], e["target"]) for e in found] == [
        ("admin", "block", "webhook:alice")]
    assert found[0]["by"].startswith("key:")
    assert ADMIN_KEY not in json.dumps(found)


async def test_the_trail_keeps_only_max_entries(start_service: StartService) -> None:
    service = await start_service(config=audited(max_entries=100), env=ENV)
    for n in range(55):
        await ask(service, "alice", f"m{n}")
    found = (await admin_get(service, "/admin/api/audit?limit=1000"))["entries"]
    assert len(found) == 100
    assert found[-1]["text"] == "You said: m5"


async def test_the_cli_exports_jsonl_since_a_date(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    service = await start_service(config=audited(), env={**ENV, "REDIS_URL": redis_url})
    await ask(service, "alice", PRIVATE)
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"audit": {"enabled": True}}))
    env = environment(fake_openai, REDIS_URL=redis_url)
    code, out, err = await spawn("audit", "export", "--since", "2000-01-01", "--config", str(config),
                                 env=env)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["kind"], e["text"]) for e in lines] == [("message", MASKED),
                                                      ("answer", f"You said: {MASKED}")]
    code, out, _ = await spawn("audit", "export", "--since", "2999-01-01", "--config", str(config),
                               env=env)
    assert (code, out) == (0, "")


async def test_the_cli_refuses_a_bad_date_in_one_line(fake_openai: FakeOpenAI) -> None:
    code, _, err = await run("audit", "export", "--since", "yesterday", env=environment(fake_openai))
    assert code == 2
    assert err.strip().startswith("config error: --since")
