"""The OpenAI client: each upstream failure becomes its user-facing kind; retries are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import Secret
from bot.errors import UpstreamError
from bot.llm import OpenAILLM
from bot.metrics import Metrics
from bot.settings import LLMSettings
from tests.fakes.openai import FakeOpenAI


@pytest.fixture
async def llm(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAILLM]:
    settings = LLMSettings(api_key=Secret("sk-distinctive-key-42"), base_url=fake_openai.url,
                           max_retries=0, timeout=5)
    client = OpenAILLM(settings, Metrics())
    yield client
    await client.close()


MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("status", "kind"), [
    (401, "llm_auth"), (429, "llm_rate_limit"), (500, "llm_server"), (503, "llm_server"),
])
async def test_http_errors_map_to_their_kind(
    llm: OpenAILLM, fake_openai: FakeOpenAI, status: int, kind: str
) -> None:
    fake_openai.fail_next = [status]
    with pytest.raises(UpstreamError) as caught:
        await llm.complete(MESSAGES)
    assert caught.value.kind == kind


async def test_streaming_errors_map_to_their_kind(llm: OpenAILLM, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next = [429]
    with pytest.raises(UpstreamError) as caught:
        _ = [d async for d in llm.stream(MESSAGES)]
    assert caught.value.kind == "llm_rate_limit"


async def test_a_slow_model_times_out_as_llm_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 1.0
    client = OpenAILLM(LLMSettings(base_url=fake_openai.url, max_retries=0, timeout=0.2), Metrics())
    with pytest.raises(UpstreamError) as caught:
        await client.complete(MESSAGES)
    await client.close()
    assert caught.value.kind == "llm_timeout"


async def test_retries_are_bounded_by_config(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next = [500, 500, 500, 500]
    client = OpenAILLM(LLMSettings(base_url=fake_openai.url, max_retries=1, timeout=5), Metrics())
    with pytest.raises(UpstreamError):
        await client.complete(MESSAGES)
    await client.close()
    assert len(fake_openai.chat_calls) == 2


async def test_a_retried_429_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next = [429]
    client = OpenAILLM(LLMSettings(base_url=fake_openai.url, max_retries=2, timeout=5), Metrics())
    completion = await client.complete(MESSAGES)
    await client.close()
    assert completion.text == "You said: hi"


async def test_stream_ignores_the_usage_only_chunk(llm: OpenAILLM) -> None:
    assert "".join([d async for d in llm.stream(MESSAGES)]) == "You said: hi"


async def test_the_detail_for_the_log_never_holds_the_api_key(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [401]
    with pytest.raises(UpstreamError) as caught:
        await llm.complete(MESSAGES)
    assert "sk-distinctive-key-42" not in str(caught.value)
