"""Usage accounting: tokens from the LLM's `usage` (streamed too), per dimension, across instances."""

from __future__ import annotations

from typing import Any

import pytest

from bot.usage.meter import estimate_tokens
from tests.admin_helpers import ADMIN_KEY, admin_get, ask
from tests.conftest import StartService, base_config
from tests.fakes.openai import TOOL_USAGE, FakeOpenAI, call_once

ENV = {"BOT_ADMIN_KEYS": ADMIN_KEY}


def row(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(r for r in report["rows"] if r["key"] == key)


async def test_a_whole_answer_counts_the_tokens_the_endpoint_reported(
    start_service: StartService,
) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice")
    alice = row(await admin_get(service, "/admin/api/usage?by=user"), "webhook:alice")
    assert (alice["messages"], alice["tokens_in"], alice["tokens_out"]) == (1, 5, 3)
    assert alice["estimated_in"] == alice["estimated_out"] == 0


async def test_a_streamed_answer_counts_the_usage_chunk(start_service: StartService) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice", "hi", stream=True)  # "You said: hi" streams in 3 pieces of 4
    alice = row(await admin_get(service, "/admin/api/usage?by=user"), "webhook:alice")
    assert (alice["tokens_in"], alice["tokens_out"]) == (5, 3)


async def test_tokens_are_estimated_and_marked_when_the_endpoint_sends_no_usage(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.report_usage = False
    service = await start_service(env=ENV)
    await ask(service, "alice", "hello there")
    await ask(service, "alice", "hello there", stream=True)
    alice = row(await admin_get(service, "/admin/api/usage?by=user"), "webhook:alice")
    assert alice["tokens_out"] > 0
    assert (alice["estimated_in"], alice["estimated_out"]) == (alice["tokens_in"], alice["tokens_out"])


@pytest.mark.parametrize(("by", "key"), [("user", "webhook:alice"), ("chat", "webhook:alice"),
                                         ("account", "webhook:default"), ("platform", "webhook"),
                                         ("model", "gpt-4o-mini")])
async def test_usage_is_reported_on_every_dimension(
    start_service: StartService, by: str, key: str
) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice")
    await ask(service, "alice", stream=True)
    report = await admin_get(service, f"/admin/api/usage?by={by}")
    assert (row(report, key)["messages"], row(report, key)["tokens_in"]) == (2, 10)


async def test_usage_from_two_instances_adds_up_in_shared_storage(
    start_service: StartService, redis_url: str
) -> None:
    env = {**ENV, "REDIS_URL": redis_url}
    first, second = await start_service(env=env), await start_service(env=env)
    await ask(first, "alice")
    await ask(second, "alice", stream=True)
    await ask(second, "bob")
    for service in (first, second):
        report = await admin_get(service, "/admin/api/usage?by=user")
        assert row(report, "webhook:alice")["messages"] == 2
        assert (report["totals"]["messages"], report["totals"]["tokens_in"],
                report["totals"]["tokens_out"]) == (3, 15, 9)


async def test_cost_comes_from_the_pricing_table(start_service: StartService) -> None:
    config = base_config(pricing={"gpt-4o-mini": {"input_per_1m": 2.0, "output_per_1m": 10.0}})
    service = await start_service(config=config, env=ENV)
    for _ in range(4):
        await ask(service, "alice")  # 5 in, 3 out each
    report = await admin_get(service, "/admin/api/usage?by=user")
    assert row(report, "webhook:alice")["cost"] == pytest.approx((20 * 2.0 + 12 * 10.0) / 1e6)
    assert report["totals"]["cost"] == report["days"][-1]["cost"] == row(report, "webhook:alice")["cost"]
    assert report["unpriced"] == []


async def test_a_model_without_a_price_is_named_and_costs_nothing(start_service: StartService) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice")
    report = await admin_get(service, "/admin/api/usage?by=user")
    assert (report["unpriced"], report["totals"]["cost"]) == (["gpt-4o-mini"], 0)


async def test_a_generated_picture_is_counted_under_the_image_model(start_service: StartService) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice", "/image a cat")
    report = await admin_get(service, "/admin/api/usage?by=model")
    assert row(report, "gpt-image-1")["images"] == 1


async def test_the_daily_series_covers_every_day_of_the_range(start_service: StartService) -> None:
    service = await start_service(env=ENV)
    await ask(service, "alice")
    report = await admin_get(service, "/admin/api/usage?by=user&from=2020-01-30&to=2020-02-02")
    assert [d["date"] for d in report["days"]] == ["2020-01-30", "2020-01-31", "2020-02-01",
                                                    "2020-02-02"]
    assert report["rows"] == []


async def test_a_message_with_several_model_rounds_and_tool_calls_counts_once_with_their_sum(
    redis_url: str,
) -> None:
    """The hooks a tool-calling answer uses (bot/usage/meter.py): each model round reports its
    tokens and each tool call is recorded; here two rounds are played by the step below the
    usage step, on two instances sharing Redis (the real tool loop is the test below)."""
    from bot.messages import Conversation, Incoming
    from bot.pipeline import Context, Pipeline
    from bot.pipeline.account import Account
    from bot.replier import CollectingReplier
    from bot.storage import RedisStorage
    from bot.usage import UsageLedger, record_tokens, record_tool_call

    async def two_rounds(ctx: Context, call_next: Any) -> None:
        record_tokens("gpt-4o", 120, 30)  # round 1 ends in a tool call
        record_tool_call("search_knowledge")
        record_tokens("gpt-4o", 200, 50)  # round 2 answers with the tool's result

    stores = [RedisStorage(redis_url, prefix="usage-test:") for _ in range(2)]
    ledgers = [UsageLedger(store, 90) for store in stores]
    try:
        for ledger in ledgers:
            incoming = Incoming(platform="feishu", conversation=Conversation("feishu", "ou_a"),
                                user_id="ou_a", text="look it up")
            await Pipeline([Account(ledger), two_rounds]).handle(incoming, CollectingReplier())
        [counts] = await ledgers[0].by_day([ledgers[0].today()], "user")
    finally:
        for store in stores:
            await store.close()
    assert counts["feishu:ou_a"]["gpt-4o"] == {"in": 640, "out": 160, "tools": 2, "msgs": 2}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_using_answer_counts_the_tokens_of_every_round_and_its_tool_call(
    start_service: StartService, fake_openai: FakeOpenAI, stream: bool
) -> None:
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = lambda body: "It is noon."  # 3 SSE pieces of 4: 3 tokens either way
    config = base_config(tools={"enabled": True})
    service = await start_service(config=config, env=ENV)
    await ask(service, "alice", "what time is it?", stream=stream)
    assert len(fake_openai.chat_calls) == 2  # the round asking for the tool, then the answer
    alice = row(await admin_get(service, "/admin/api/usage?by=user"), "webhook:alice")
    assert (alice["messages"], alice["tool_calls"]) == (1, 1)
    assert (alice["tokens_in"], alice["tokens_out"]) == (
        TOOL_USAGE["prompt_tokens"] + 5, TOOL_USAGE["completion_tokens"] + 3)
    assert alice["estimated_in"] == alice["estimated_out"] == 0


async def test_a_tool_round_without_reported_usage_is_estimated_too(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.report_usage = False
    fake_openai.tools = call_once("current_time", {})
    fake_openai.reply = lambda body: "It is noon."
    service = await start_service(config=base_config(tools={"enabled": True}), env=ENV)
    await ask(service, "alice", "what time is it?", stream=True)
    alice = row(await admin_get(service, "/admin/api/usage?by=user"), "webhook:alice")
    assert alice["tool_calls"] == 1
    assert (alice["estimated_in"], alice["estimated_out"]) == (alice["tokens_in"], alice["tokens_out"])
    # the answer's text, and the round that only asked for a tool: the call the model wrote
    assert alice["tokens_out"] == estimate_tokens("It is noon.") + estimate_tokens("current_time{}")
