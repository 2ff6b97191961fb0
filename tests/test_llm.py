"""The OpenAI client: each upstream failure becomes its user-facing kind; retries are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from bot.config import Secret
from bot.errors import UpstreamError
from bot.llm import OpenAILLM, map_error
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


PICTURE_MESSAGES = [{"role": "user", "content": [
    {"type": "text", "text": "what is this?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}]}]


async def test_a_model_that_takes_no_pictures_is_llm_no_vision(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.blind_models = {"gpt-4o-mini"}
    with pytest.raises(UpstreamError) as caught:
        await llm.complete(PICTURE_MESSAGES)
    assert caught.value.kind == "llm_no_vision"


async def test_a_chat_content_filter_is_llm_content_filter(
    llm: OpenAILLM, fake_openai: FakeOpenAI
) -> None:
    fake_openai.refuse_chat = True
    with pytest.raises(UpstreamError) as caught:
        await llm.complete(MESSAGES)
    assert caught.value.kind == "llm_content_filter"


@pytest.mark.parametrize(("message", "kind"), [
    ("Invalid content type. image_url is only supported by certain models.", "llm_no_vision"),
    ("The model `qwen2` is not a multimodal model", "llm_no_vision"),
    ("Failed to deserialize: unknown variant `image_url`, expected `text`", "llm_no_vision"),
    ("This model does not support image input.", "llm_no_vision"),
    ("Invalid image_url: the picture could not be downloaded", "llm_bad_request"),
])
def test_what_endpoints_say_about_pictures_maps_to_its_kind(message: str, kind: str) -> None:
    import httpx

    request = httpx.Request("POST", "http://x.test/v1/chat/completions")
    response = httpx.Response(400, request=request)
    # (openai's stubs name its vendored httpx; the object is the same)
    exc = openai.BadRequestError(message, response=response, body=None)  # type: ignore[arg-type]
    assert map_error(exc).kind == kind


async def test_speech_is_mp3_from_the_configured_model_and_voice(
    fake_openai: FakeOpenAI
) -> None:
    settings = LLMSettings(api_key=Secret("k"), base_url=fake_openai.url, max_retries=0,
                           timeout=5, speech_model="tts-1-hd", voice="nova")
    client = OpenAILLM(settings, Metrics())
    try:
        audio = await client.speak("x" * 5000)
    finally:
        await client.close()
    assert fake_openai.speeches == [{"model": "tts-1-hd", "input": "x" * 4096, "voice": "nova",
                                     "response_format": "mp3"}]
    assert audio.startswith((b"ID3", b"\xff"))
