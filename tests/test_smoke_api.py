"""Smoke: the API answers through the fake LLM."""

from __future__ import annotations

from tests.conftest import StartService
from tests.fakes.openai import FakeOpenAI


async def test_api_chat_answers_through_the_llm(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    service = await start_service()
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": "u1", "text": "hi"}) as response:
        assert response.status == 200
        assert await response.json() == {"reply": "You said: hi"}
