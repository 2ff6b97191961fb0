"""The direct first attempt at a chat completion (bot/llm_direct.py): what it sends is what the SDK
sends, and a failure ends as the SDK's would, with the same number of attempts."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import openai
import pytest

from bot.config import Secret
from bot.errors import UpstreamError
from bot.llm import OpenAILLM
from bot.llm_direct import retry_delay
from bot.metrics import Metrics
from bot.settings import LLMSettings
from tests.fakes.openai import FakeOpenAI

MESSAGES = [{"role": "user", "content": "hi"}]


def settings(url: str, retries: int = 2, timeout: float = 5) -> LLMSettings:
    return LLMSettings(api_key=Secret("sk-direct-42"), base_url=url, max_retries=retries,
                       timeout=timeout)


@pytest.fixture
async def llm(fake_openai: FakeOpenAI) -> AsyncIterator[OpenAILLM]:
    client = OpenAILLM(settings(fake_openai.url), Metrics())
    yield client
    await client.close()


async def test_the_direct_request_carries_the_sdks_headers_and_body(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    await llm.complete(MESSAGES)
    sdk = openai.AsyncOpenAI(api_key="sk-direct-42", base_url=fake_openai.url, max_retries=0)
    await sdk.post("/chat/completions", cast_to=object, body=fake_openai.received[0])
    await sdk.close()
    direct, reference = ({k.lower(): v for k, v in h.items()} for h in fake_openai.headers)
    for name in ("authorization", "user-agent", "content-type", "accept", "x-stainless-lang"):
        assert direct[name] == reference[name]
    assert fake_openai.received[0] == fake_openai.received[1]
    assert fake_openai.received[0]["messages"] == MESSAGES


async def test_an_answer_takes_one_request(llm: OpenAILLM, fake_openai: FakeOpenAI) -> None:
    completion = await llm.complete(MESSAGES)
    assert completion.text == "You said: hi"
    assert len(fake_openai.chat_calls) == 1


@pytest.mark.parametrize(("status", "kind"), [
    (401, "llm_auth"), (429, "llm_rate_limit"), (500, "llm_server"), (503, "llm_server"),
])
async def test_a_failure_ends_in_the_sdks_error_kind(
    llm: OpenAILLM, fake_openai: FakeOpenAI, status: int, kind: str
) -> None:
    fake_openai.fail_next = [status] * 5
    with pytest.raises(UpstreamError) as caught:
        await llm.complete(MESSAGES)
    assert caught.value.kind == kind


async def test_a_retried_failure_makes_as_many_attempts_as_the_sdk(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next = [500] * 5
    client = OpenAILLM(settings(fake_openai.url, retries=2), Metrics())
    with pytest.raises(UpstreamError):
        await client.complete(MESSAGES)
    await client.close()
    assert len(fake_openai.chat_calls) == 3  # max_retries + 1, as the SDK alone makes


async def test_a_refusal_the_sdk_would_not_retry_is_one_attempt(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [401] * 5
    with pytest.raises(UpstreamError):
        await llm.complete(MESSAGES)
    assert len(fake_openai.chat_calls) == 1


async def test_a_failure_then_success_answers(llm: OpenAILLM, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next = [503]
    completion = await llm.complete(MESSAGES)
    assert completion.text == "You said: hi"
    assert len(fake_openai.chat_calls) == 2


async def test_the_servers_retry_after_is_waited_before_the_next_attempt(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [429]
    fake_openai.fail_headers = {"retry-after-ms": "700"}
    started = time.monotonic()
    await llm.complete(MESSAGES)
    assert time.monotonic() - started >= 0.7


@pytest.mark.parametrize("retries", [1, 0])
async def test_an_unreachable_endpoint_is_llm_unreachable(retries: int) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAILLM(settings(f"http://127.0.0.1:{port}/v1", retries=retries), Metrics())
    with pytest.raises(UpstreamError) as caught:
        await client.complete(MESSAGES)
    await client.close()
    assert caught.value.kind == "llm_unreachable"


@pytest.mark.parametrize("retries", [1, 0])
async def test_a_slow_model_times_out_as_llm_timeout_after_every_attempt(
    fake_openai: FakeOpenAI, retries: int
) -> None:
    fake_openai.latency = 1.0
    client = OpenAILLM(settings(fake_openai.url, retries=retries, timeout=0.2), Metrics())
    with pytest.raises(UpstreamError) as caught:
        await client.complete(MESSAGES)
    await client.close()
    assert caught.value.kind == "llm_timeout"
    assert len(fake_openai.chat_calls) == retries + 1


@pytest.mark.parametrize(("status", "headers", "retried"), [
    (500, {}, True), (503, {}, True), (429, {}, True), (408, {}, True), (409, {}, True),
    (400, {}, False), (401, {}, False), (404, {}, False),
    (400, {"x-should-retry": "true"}, True), (500, {"x-should-retry": "false"}, False),
    (429, {"retry-after": "61"}, False),
])
def test_which_failures_the_sdk_would_retry(status: int, headers: dict[str, str],
                                            retried: bool) -> None:
    assert (retry_delay(status, headers) is not None) is retried


@pytest.mark.parametrize(("headers", "low", "high"), [
    ({}, 0.375, 0.5), ({"retry-after": "2"}, 2.0, 2.0), ({"retry-after-ms": "250"}, 0.25, 0.25),
    ({"retry-after": "soon"}, 0.375, 0.5), ({"retry-after": "0"}, 0.375, 0.5),
])
def test_the_wait_before_the_sdks_attempt(headers: dict[str, str], low: float,
                                          high: float) -> None:
    delay = retry_delay(429, headers)
    assert delay is not None
    assert low <= delay <= high


async def stream_text(client: OpenAILLM) -> str:
    return "".join([delta async for delta in client.stream(MESSAGES)])


async def test_a_stream_is_one_request(llm: OpenAILLM, fake_openai: FakeOpenAI) -> None:
    assert await stream_text(llm) == "You said: hi"
    assert len(fake_openai.chat_calls) == 1


async def test_a_stream_that_fails_to_start_is_retried_by_the_sdk(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [503]
    assert await stream_text(llm) == "You said: hi"
    assert len(fake_openai.chat_calls) == 2


async def test_a_stream_that_keeps_failing_makes_as_many_attempts_as_the_sdk(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [500] * 5
    with pytest.raises(UpstreamError) as caught:
        await stream_text(llm)
    assert caught.value.kind == "llm_server"
    assert len(fake_openai.chat_calls) == 3


async def test_an_error_event_in_the_stream_is_llm_server(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.midstream_error = "The server had an error while processing your request."
    with pytest.raises(UpstreamError) as caught:
        await stream_text(llm)
    assert caught.value.kind == "llm_server"
    assert len(fake_openai.chat_calls) == 1  # a stream that began is never retried
