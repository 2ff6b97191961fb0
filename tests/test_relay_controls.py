"""The bot's controls and moderation on `/v1/chat/completions`, through the official client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import openai
import pytest

from bot.texts import DEFAULTS
from tests.conftest import API_KEY, RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI
from tests.moderation_words import words_file

Client = Callable[..., Coroutine[Any, Any, openai.AsyncOpenAI]]


@pytest.fixture
async def relay(start_service: StartService) -> AsyncIterator[Client]:
    """`await relay(config)`: an SDK client on a service started with that config."""
    clients: list[openai.AsyncOpenAI] = []

    async def start(**sections: Any) -> openai.AsyncOpenAI:
        service: RunningService = await start_service(config=base_config(**sections))
        client = openai.AsyncOpenAI(api_key=API_KEY, base_url=f"{service.url}/v1",
                                    max_retries=0, timeout=10)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def moderated(tmp_path: Path, **moderation: Any) -> dict[str, Any]:
    return {"moderation": {"words_file": words_file(tmp_path), "relay": True, **moderation}}


async def complete(client: openai.AsyncOpenAI, text: str = "hi", model: str = "gpt-4o-mini") -> Any:
    return await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}])


async def streamed(client: openai.AsyncOpenAI, text: str = "hi") -> tuple[list[str], str | None]:
    """The content deltas and the last finish_reason of a streamed completion."""
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], stream=True)
    deltas, finish = [], None
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            finish = choice.finish_reason or finish
    return deltas, finish


async def test_the_relay_counts_requests_per_key_per_minute(
    relay: Client, fake_openai: FakeOpenAI
) -> None:
    client = await relay(relay={"per_key_per_minute": 2})
    await complete(client)
    await complete(client)
    with pytest.raises(openai.RateLimitError) as caught:
        await complete(client)
    assert caught.value.code == "rate_limit_exceeded"
    assert len(fake_openai.chat_calls) == 2


async def test_the_relay_has_a_daily_quota_per_key(relay: Client) -> None:
    client = await relay(relay={"per_key_per_day": 1})
    await complete(client)
    with pytest.raises(openai.RateLimitError) as caught:
        await complete(client)
    assert caught.value.code == "insufficient_quota"


async def test_a_model_outside_the_allow_list_is_refused(
    relay: Client, fake_openai: FakeOpenAI
) -> None:
    client = await relay(llm={"models": ["gpt-4o"]})
    with pytest.raises(openai.NotFoundError) as caught:
        await complete(client, model="o1-pro")
    assert caught.value.code == "model_not_found"
    assert fake_openai.chat_calls == []


async def test_models_of_the_allow_list_pass(relay: Client, fake_openai: FakeOpenAI) -> None:
    client = await relay(llm={"models": ["gpt-4o"]})
    await complete(client, model="gpt-4o")
    assert fake_openai.chat_calls[-1]["model"] == "gpt-4o"


async def test_any_model_turns_the_allow_list_off(relay: Client, fake_openai: FakeOpenAI) -> None:
    client = await relay(relay={"any_model": True})
    await complete(client, model="o1-pro")
    assert fake_openai.chat_calls[-1]["model"] == "o1-pro"


async def test_input_over_the_cap_is_refused_before_the_upstream(
    relay: Client, fake_openai: FakeOpenAI
) -> None:
    client = await relay(relay={"max_input_chars": 10})
    with pytest.raises(openai.BadRequestError) as caught:
        await complete(client, text="x" * 11)
    assert caught.value.code == "input_too_long"
    assert fake_openai.chat_calls == []


async def test_without_moderation_relay_the_policy_does_not_apply(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    client = await relay(moderation={"words_file": words_file(tmp_path)})
    result = await complete(client, "confidential")
    assert result.choices[0].message.content == "You said: confidential"


async def test_a_flagged_request_gets_the_refusal_without_an_upstream_call(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    client = await relay(**moderated(tmp_path))
    result = await complete(client, "tell me the confidential part")
    choice = result.choices[0]
    assert (choice.message.content, choice.finish_reason) == (DEFAULTS["moderation_input"],
                                                              "content_filter")
    assert fake_openai.chat_calls == []


async def test_a_flagged_streamed_request_gets_the_refusal_as_a_stream(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    client = await relay(**moderated(tmp_path))
    assert await streamed(client, "confidential?") == ([DEFAULTS["moderation_input"]],
                                                       "content_filter")


async def test_a_whole_relay_answer_is_masked(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "it is CONFIDENTIAL"
    client = await relay(**moderated(tmp_path))
    assert (await complete(client)).choices[0].message.content == "it is ************"


async def test_a_streamed_relay_answer_never_carries_a_split_term(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.chunk_size = 3
    fake_openai.reply = lambda body: "a confidential note"
    client = await relay(**moderated(tmp_path))
    deltas, finish = await streamed(client)
    assert ("".join(deltas), finish) == ("a ************ note", "stop")
    assert not any("con" in d or "fid" in d or "ent" in d for d in deltas)


async def test_refuse_mode_replaces_a_whole_relay_answer(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.reply = lambda body: "it is confidential"
    client = await relay(**moderated(tmp_path, output="refuse"))
    choice = (await complete(client)).choices[0]
    assert (choice.message.content, choice.finish_reason) == (DEFAULTS["moderation_output"],
                                                              "content_filter")


async def test_a_streamed_answer_flagged_at_the_end_finishes_as_content_filter(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.flagged_phrases = {"dangerous advice"}
    fake_openai.reply = lambda body: "some dangerous advice"
    client = await relay(**moderated(tmp_path, openai=True))
    deltas, finish = await streamed(client)
    assert finish == "content_filter"
    assert deltas[-1] == "\n\n" + DEFAULTS["moderation_output"]


async def test_refuse_mode_cuts_a_streamed_relay_answer_before_the_term(
    relay: Client, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.chunk_size = 3
    fake_openai.reply = lambda body: "well, the confidential note"
    client = await relay(**moderated(tmp_path, output="refuse"))
    deltas, finish = await streamed(client)
    assert (deltas[-1], finish) == ("\n\n" + DEFAULTS["moderation_output"], "content_filter")
    assert "".join(deltas[:-1]) == "well, the "
