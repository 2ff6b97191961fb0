"""The pipeline through the webhook API: history, budget, commands, presets, failures."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI


async def ask(service: RunningService, text: str, user: str = "alice") -> tuple[int, Any]:
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text}) as response:
        return response.status, await response.json()


def sent_contents(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in call["messages"]]


async def test_the_model_gets_the_preset_system_prompt_then_the_message(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await ask(service, "hello")
    messages = fake_openai.chat_calls[0]["messages"]
    assert messages[0]["role"] == "system"
    assert "helpful" in messages[0]["content"]
    assert messages[1:] == [{"role": "user", "content": "hello"}]


async def test_history_grows_with_each_answered_message(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await ask(service, "one")
    await ask(service, "two")
    assert sent_contents(fake_openai.chat_calls[1])[1:] == [
        ("user", "one"), ("assistant", "You said: one"), ("user", "two"),
    ]


async def test_history_is_kept_per_user(start_service: StartService, fake_openai: FakeOpenAI) -> None:
    service = await start_service()
    await ask(service, "from alice", user="alice")
    await ask(service, "from bob", user="bob")
    assert sent_contents(fake_openai.chat_calls[1])[1:] == [("user", "from bob")]


async def test_history_is_trimmed_to_the_turn_budget(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(history={"max_turns": 2}))
    for text in ("m1", "m2", "m3", "m4"):
        await ask(service, text)
    users = [c for r, c in sent_contents(fake_openai.chat_calls[-1]) if r == "user"]
    assert users == ["m2", "m3", "m4"]


async def test_history_is_trimmed_to_the_character_budget_oldest_first(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(history={"max_chars": 40}))
    for text in ("first message", "second message", "third"):
        await ask(service, text)
    sent = sent_contents(fake_openai.chat_calls[-1])[1:]
    assert sent == [("user", "second message"), ("assistant", "You said: second message"),
                    ("user", "third")]


async def test_history_survives_a_restart_on_redis(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    first = await start_service(env={"REDIS_URL": redis_url})
    await ask(first, "remember me")
    await first.close()
    second = await start_service(env={"REDIS_URL": redis_url})
    await ask(second, "again")
    assert ("user", "remember me") in sent_contents(fake_openai.chat_calls[-1])


async def test_reset_clears_the_history(start_service: StartService, fake_openai: FakeOpenAI) -> None:
    service = await start_service()
    await ask(service, "old")
    status, body = await ask(service, "/reset")
    await ask(service, "new")
    assert status == 200
    assert "forgotten" in body["reply"]
    assert sent_contents(fake_openai.chat_calls[-1])[1:] == [("user", "new")]


async def test_chinese_alias_resets_too(start_service: StartService, fake_openai: FakeOpenAI) -> None:
    service = await start_service()
    await ask(service, "old")
    await ask(service, "清除记忆")
    await ask(service, "new")
    assert sent_contents(fake_openai.chat_calls[-1])[1:] == [("user", "new")]


async def test_commands_never_reach_the_model(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    for command in ("/help", "/reset", "/prompt", "/nonsense"):
        await ask(service, command)
    assert fake_openai.chat_calls == []


async def test_unknown_command_gets_the_help_text(start_service: StartService) -> None:
    service = await start_service()
    _, body = await ask(service, "/whatever")
    assert "/reset" in body["reply"]


async def test_prompt_lists_the_presets_and_marks_the_current_one(start_service: StartService) -> None:
    service = await start_service()
    _, body = await ask(service, "/prompt")
    assert "translator" in body["reply"]
    assert "current: assistant" in body["reply"]


async def test_prompt_switch_changes_the_system_prompt_for_that_conversation_only(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await ask(service, "/prompt translator", user="alice")
    await ask(service, "你好", user="alice")
    await ask(service, "hello", user="bob")
    alice, bob = fake_openai.chat_calls
    assert "translator" in alice["messages"][0]["content"]
    assert alice["temperature"] == 0.2
    assert "translator" not in bob["messages"][0]["content"]


async def test_prompt_switch_to_an_unknown_preset_is_refused(start_service: StartService) -> None:
    service = await start_service()
    _, body = await ask(service, "/prompt nope")
    assert "no preset" in body["reply"]


async def test_empty_input_gets_a_polite_answer_without_a_model_call(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    _, body = await ask(service, "   \n ")
    assert "empty" in body["reply"]
    assert fake_openai.chat_calls == []


async def test_overlong_input_gets_a_polite_answer_without_a_model_call(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service(config=base_config(input={"max_chars": 10}))
    _, body = await ask(service, "x" * 11)
    assert "too long" in body["reply"]
    assert fake_openai.chat_calls == []


async def test_input_is_trimmed_before_it_reaches_the_model(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    await ask(service, "  spaced out \n")
    assert fake_openai.chat_calls[0]["messages"][-1]["content"] == "spaced out"


async def test_llm_error_gives_a_friendly_text_and_writes_no_history(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.fail_next = [429]
    status, body = await ask(service, "lost question")
    await ask(service, "next")
    assert status == 502
    assert body["error"]["message"] == "The assistant is busy right now. Please try again in a minute."
    assert "Rate limit" not in body["error"]["message"]
    assert sent_contents(fake_openai.chat_calls[-1])[1:] == [("user", "next")]


async def test_reasoning_blocks_never_reach_the_user_or_history(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.reply = lambda body: "<think>secret plan</think>\n\nThe answer."
    _, body = await ask(service, "q")
    await ask(service, "q2")
    assert body == {"reply": "The answer."}
    assert ("assistant", "The answer.") in sent_contents(fake_openai.chat_calls[-1])


async def test_an_empty_answer_gets_a_friendly_text_and_writes_no_history(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    fake_openai.reply = lambda body: "<think>only thoughts</think>"
    status, body = await ask(service, "q")
    fake_openai.reply = lambda body: "fine"
    await ask(service, "next")
    assert status == 502
    assert body["error"]["message"] == "The assistant returned an empty answer. Please try again."
    assert sent_contents(fake_openai.chat_calls[-1])[1:] == [("user", "next")]
