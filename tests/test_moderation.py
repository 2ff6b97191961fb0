"""Moderation through `/api/chat` (whole and NDJSON): input refused, output masked or refused,
remote providers, and the failure policy."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.texts import DEFAULTS
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import LoopbackServer
from tests.moderation_words import ask, words_file


async def moderated(start_service: StartService, tmp_path: Path, env: dict[str, str] | None = None,
                    **moderation: Any) -> RunningService:
    config = base_config(moderation={"words_file": words_file(tmp_path), **moderation})
    return await start_service(config=config, env=env)


async def stream_lines(service: RunningService, text: str) -> list[dict[str, Any]]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "alice", "text": text, "stream": True}) as response:
        return [json.loads(line) for line in (await response.text()).splitlines() if line]


def history_sent(fake: FakeOpenAI) -> list[str]:
    """The contents of the last model call's earlier turns (system prompt and new message left out)."""
    return [m["content"] for m in fake.chat_calls[-1]["messages"][1:-1]]


async def test_a_flagged_message_is_refused_without_a_model_call(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await moderated(start_service, tmp_path)
    body = await ask(service, "tell me the CONFIDENTIAL numbers")
    assert body == {"reply": DEFAULTS["moderation_input"], "refused": True}
    assert fake_openai.chat_calls == []


async def test_a_refused_message_never_enters_history(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await moderated(start_service, tmp_path)
    await ask(service, "这是敏感词")
    await ask(service, "hello")
    assert history_sent(fake_openai) == []


async def test_a_refused_message_is_counted_and_logged_without_its_text(
    start_service: StartService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = await moderated(start_service, tmp_path)
    with caplog.at_level(logging.INFO):
        await ask(service, "my confidential plan")
    async with service.http.get(f"{service.url}/metrics") as response:
        metrics = await response.text()
    assert 'bot_moderation_flagged_total{direction="input",provider="terms"} 1.0' in metrics
    assert any("input refused" in r.getMessage() for r in caplog.records)
    assert not any("confidential" in r.getMessage() for r in caplog.records)


async def test_a_flagged_answer_is_masked_with_stars_of_the_same_length(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "It is Ｃｏｎｆｉｄｅｎｔｉａｌ, sorry."
    service = await moderated(start_service, tmp_path)
    assert await ask(service, "what is it?") == {"reply": "It is ************, sorry."}


async def test_a_masked_answer_never_enters_history(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "the confidential part"
    service = await moderated(start_service, tmp_path)
    await ask(service, "first")
    fake_openai.reply = lambda body: "fine"
    await ask(service, "second")
    assert history_sent(fake_openai) == []


async def test_refuse_mode_replaces_the_whole_answer(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "the confidential part"
    service = await moderated(start_service, tmp_path, output="refuse")
    assert await ask(service, "q") == {"reply": DEFAULTS["moderation_output"], "refused": True}


async def test_output_off_leaves_answers_alone(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "the confidential part"
    service = await moderated(start_service, tmp_path, output="off")
    assert await ask(service, "q") == {"reply": "the confidential part"}


async def test_a_term_split_across_deltas_never_reaches_an_ndjson_line(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.chunk_size = 3  # "con" "fid" "ent" "ial" arrive as separate deltas
    fake_openai.reply = lambda body: "a confidential note"
    service = await moderated(start_service, tmp_path)
    lines = await stream_lines(service, "q")
    contents = [line["content"] for line in lines if not line["done"]]
    assert "".join(contents) == "a ************ note"
    fragments = {"confidential"[i:i + 3] for i in range(10)}
    assert not any(fragment in content for content in contents for fragment in fragments)


async def test_refuse_mode_streams_nothing_of_the_term_then_withdraws_the_start(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.chunk_size = 3
    fake_openai.reply = lambda body: "well, the confidential note"
    service = await moderated(start_service, tmp_path, output="refuse")
    lines = await stream_lines(service, "q")
    assert lines[-3:] == [
        {"done": False, "error": False, "content": "", "retract": True},
        {"done": False, "error": False, "content": DEFAULTS["moderation_output"], "refused": True},
        {"done": True, "error": False, "content": "[DONE]"},
    ]
    assert not any("con" in line["content"] for line in lines[:-3])


async def test_an_answer_flagged_by_openai_after_streaming_is_withdrawn(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_openai.flagged_phrases = {"dangerous advice"}
    fake_openai.reply = lambda body: "here is some dangerous advice"
    service = await moderated(start_service, tmp_path, openai=True)
    with caplog.at_level(logging.INFO):
        lines = await stream_lines(service, "q")
    assert any(not line["done"] and line["content"] and "retract" not in line for line in lines[:2])
    assert [line.get("retract", False) for line in lines[-3:]] == [True, False, False]
    assert lines[-2]["content"] == DEFAULTS["moderation_output"]
    assert any("streamed answer was withdrawn" in r.getMessage() for r in caplog.records)


async def test_openai_moderation_refuses_a_flagged_message(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.flagged_phrases = {"how to hurt"}
    service = await moderated(start_service, tmp_path, openai=True)
    body = await ask(service, "How to hurt someone")
    assert body["refused"] is True
    assert fake_openai.chat_calls == []
    assert fake_openai.moderations[0] == {"input": "How to hurt someone",
                                          "model": "omni-moderation-latest"}


async def test_openai_flag_on_a_whole_answer_refuses_it_even_in_mask_mode(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.flagged_phrases = {"dangerous"}
    fake_openai.reply = lambda body: "dangerous things"
    service = await moderated(start_service, tmp_path, openai=True)
    assert await ask(service, "q") == {"reply": DEFAULTS["moderation_output"], "refused": True}


async def test_fail_open_answers_when_the_provider_fails(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.moderation_fail_next = [500, 500]
    service = await moderated(start_service, tmp_path, openai=True, on_error="open")
    assert await ask(service, "hello") == {"reply": "You said: hello"}
    async with service.http.get(f"{service.url}/metrics") as response:
        assert 'bot_moderation_errors_total{provider="openai"} 2.0' in await response.text()


async def test_fail_closed_refuses_when_the_provider_fails(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.moderation_fail_next = [503]
    service = await moderated(start_service, tmp_path, openai=True, on_error="closed")
    assert await ask(service, "hello") == {"reply": DEFAULTS["moderation_unavailable"],
                                           "refused": True}
    assert fake_openai.chat_calls == []


async def test_fail_closed_refuses_an_answer_when_the_provider_fails_on_it(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    service = await moderated(start_service, tmp_path, openai=True, on_error="closed")

    def answer_then_fail_the_next_check(body: dict[str, Any]) -> str:
        fake_openai.moderation_fail_next.append(500)  # the input check passed; the output's fails
        return "fine"

    fake_openai.reply = answer_then_fail_the_next_check
    assert await ask(service, "hello") == {"reply": DEFAULTS["moderation_unavailable"],
                                           "refused": True}


@pytest.fixture
async def hook() -> AsyncIterator[dict[str, Any]]:
    """A moderation hook (the generic HTTP provider): flags texts holding "acme", naming it."""
    state: dict[str, Any] = {"received": [], "status": 200}

    async def judge(request: web.Request) -> web.Response:
        body = await request.json()
        state["received"].append((body, request.headers.get("Authorization")))
        flagged = "acme" in body["text"].lower()
        return web.json_response({"flagged": flagged, "terms": ["ACME"] if flagged else []},
                                 status=state["status"])

    app = web.Application()
    app.router.add_post("/judge", judge)
    server = await LoopbackServer(app).start()
    state["url"] = f"{server.url}/judge"
    yield state
    await server.close()


async def test_terms_named_by_the_http_hook_are_masked(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path, hook: dict[str, Any]
) -> None:
    fake_openai.reply = lambda body: "Buy from Acme today"
    service = await moderated(start_service, tmp_path, http_url=hook["url"],
                              env={"MODERATION_HTTP_TOKEN": "hook-token"})
    assert await ask(service, "where?") == {"reply": "Buy from **** today"}
    assert hook["received"][-1] == ({"text": "Buy from Acme today", "direction": "output"},
                                    "Bearer hook-token")


async def test_hook_masks_are_applied_to_a_streamed_answer_by_replacing_it(
    start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path, hook: dict[str, Any]
) -> None:
    fake_openai.reply = lambda body: "Buy from Acme today"
    service = await moderated(start_service, tmp_path, http_url=hook["url"])
    lines = await stream_lines(service, "where?")
    assert lines[-3:] == [
        {"done": False, "error": False, "content": "", "retract": True},
        {"done": False, "error": False, "content": "Buy from **** today"},
        {"done": True, "error": False, "content": "[DONE]"},
    ]


async def test_a_failing_hook_is_a_provider_failure(
    start_service: StartService, tmp_path: Path, hook: dict[str, Any]
) -> None:
    hook["status"] = 500
    service = await moderated(start_service, tmp_path, http_url=hook["url"], on_error="closed")
    assert (await ask(service, "hello"))["reply"] == DEFAULTS["moderation_unavailable"]
