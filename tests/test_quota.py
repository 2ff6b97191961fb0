"""Token quotas per user and per chat per UTC day: refused before the call, renewed the next day."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core import close_core, create_core
from bot.messages import Conversation, Incoming
from bot.pipeline import Pipeline, build_steps
from bot.replier import CollectingReplier
from bot.usage import UsageLedger
from tests.conftest import UPSTREAM_KEY, base_config, write_settings
from tests.fakes.openai import FakeOpenAI

DAY = 86400.0
Send = Callable[..., Awaitable[str]]


class Clock:
    """A settable clock: noon UTC on 2024-05-01 to start with."""

    def __init__(self) -> None:
        self.now = 1714564800.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_send(
    fake_openai: FakeOpenAI, tmp_path: Path, clock: Clock
) -> AsyncIterator[Callable[..., Awaitable[Send]]]:
    """`send = await make_send(limits={...})`; `await send(text, user=, chat=)` → the reply."""
    opened: list[Any] = []

    async def make(**limits: int) -> Send:
        config = base_config(limits={"per_user_per_minute": 0, "per_user_per_day": 0, **limits})
        settings = write_settings(tmp_path, config, {"OPENAI_API_KEY": UPSTREAM_KEY,
                                                     "OPENAI_BASE_URL": fake_openai.url})
        core = await create_core(settings)
        opened.append(core)
        services = core.services
        ledger = UsageLedger(services.storage, 90, clock=clock)
        pipeline = Pipeline(build_steps(settings, services.storage, core.llm, services.presets,
                                        services.texts, core.metrics, services.moderation,
                                        ledger=ledger))

        async def send(text: str, user: str = "alice", chat: str = "") -> str:
            key = f"{chat}:{user}" if chat else user
            incoming = Incoming(platform="feishu", conversation=Conversation("feishu", key),
                                user_id=user, text=text, chat=chat)
            replier = CollectingReplier()
            await pipeline.handle(incoming, replier)
            assert replier.reply is not None
            return replier.reply.text

        return send

    yield make
    for core in opened:
        await close_core(core, 0)


async def test_the_user_quota_refuses_politely_once_used_up(
    make_send: Callable[..., Awaitable[Send]], fake_openai: FakeOpenAI
) -> None:
    send = await make_send(tokens_per_user_per_day=16)  # each answer costs 5 + 3 tokens
    assert await send("one") == "You said: one"
    assert await send("two") == "You said: two"
    assert "used today's allowance" in await send("three")
    assert len(fake_openai.chat_calls) == 2


async def test_the_refusal_is_in_the_language_of_the_message(
    make_send: Callable[..., Awaitable[Send]],
) -> None:
    send = await make_send(tokens_per_user_per_day=8)
    await send("hello")
    assert "额度已用完" in await send("你好，再问一个问题")


async def test_the_quota_is_renewed_the_next_utc_day(
    make_send: Callable[..., Awaitable[Send]], clock: Clock
) -> None:
    send = await make_send(tokens_per_user_per_day=8)
    await send("one")
    assert "allowance" in await send("two")
    clock.now += DAY / 2  # 00:00 UTC of 2024-05-02
    assert await send("three") == "You said: three"


async def test_the_chat_quota_is_shared_by_everyone_in_the_group(
    make_send: Callable[..., Awaitable[Send]],
) -> None:
    send = await make_send(tokens_per_chat_per_day=8)
    assert await send("hi", user="ou_a", chat="oc_team") == "You said: hi"
    assert "this chat has used" in await send("hi", user="ou_b", chat="oc_team")
    assert await send("hi", user="ou_b", chat="oc_other") == "You said: hi"


async def test_commands_still_work_with_the_quota_used_up(
    make_send: Callable[..., Awaitable[Send]],
) -> None:
    send = await make_send(tokens_per_user_per_day=8)
    await send("one")
    assert await send("/reset") == "Done: I have forgotten our conversation."


async def test_help_shows_the_tokens_left_today_in_its_footer(
    make_send: Callable[..., Awaitable[Send]],
) -> None:
    send = await make_send(tokens_per_user_per_day=1000)
    await send("one")
    assert (await send("/help")).endswith("Tokens left for you today: 992")
    assert (await send("帮助")).endswith("您今天剩余的额度：992 tokens")


async def test_help_has_no_quota_footer_without_a_quota(
    make_send: Callable[..., Awaitable[Send]],
) -> None:
    send = await make_send()
    assert (await send("/help")).endswith("Anything else is sent to the assistant.")
