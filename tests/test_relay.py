"""`POST /v1/chat/completions`: the official openai client against our relay, both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.conftest import API_KEY, UPSTREAM_KEY, RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI


@pytest.fixture
async def service(start_service: StartService) -> RunningService:
    """The relay offering the default model and `custom-model` (llm.models)."""
    return await start_service(config=base_config(llm={"models": ["custom-model"]}))


@pytest.fixture
async def client(service: RunningService) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(api_key=API_KEY, base_url=f"{service.url}/v1",
                                  max_retries=0, timeout=10) as sdk:
        yield sdk


async def test_whole_completion_through_the_relay(
    client: openai.AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    result = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
    assert result.choices[0].message.content == "You said: ping"


async def test_streamed_completion_through_the_relay(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream me"}], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "You said: stream me"


async def test_relay_sends_the_upstream_key_not_the_callers(
    client: openai.AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert fake_openai.headers[-1]["Authorization"] == f"Bearer {UPSTREAM_KEY}"


async def test_relay_forwards_the_request_body(
    client: openai.AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    await client.chat.completions.create(
        model="custom-model", temperature=0.1, messages=[{"role": "user", "content": "x"}])
    assert fake_openai.received[-1]["model"] == "custom-model"
    assert fake_openai.received[-1]["temperature"] == 0.1


async def test_relay_refuses_a_wrong_bot_key(service: RunningService) -> None:
    async with openai.AsyncOpenAI(api_key="wrong", base_url=f"{service.url}/v1",
                                  max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.chat.completions.create(model="gpt-4o-mini",
                                              messages=[{"role": "user", "content": "x"}])


async def test_relay_passes_rate_limits_through(
    client: openai.AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [429]
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "rate_limit_exceeded"


async def test_upstream_auth_failure_becomes_502_without_upstream_details(
    client: openai.AsyncOpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next = [401]
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert "sk-" not in str(caught.value.body)


async def test_relay_rejects_a_body_without_messages(service: RunningService) -> None:
    async with service.http.post(f"{service.url}/v1/chat/completions", headers=service.auth(),
                                 json={"model": "m"}) as response:
        assert response.status == 400
        assert "messages" in (await response.json())["error"]["message"]


async def test_unreachable_upstream_is_502(start_service: StartService) -> None:
    service = await start_service(env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    async with service.http.post(f"{service.url}/v1/chat/completions", headers=service.auth(),
                                 json={"messages": [{"role": "user", "content": "x"}]}) as response:
        assert response.status == 502
        assert "could not complete" in (await response.json())["error"]["message"]
