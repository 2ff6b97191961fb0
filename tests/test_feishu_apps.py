"""Several Feishu apps in one process, and topics (threads): replies inside the topic, one
history per topic, and a topic started with an @mention going on without one."""

from __future__ import annotations

from typing import Any

from adapters import feishu
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.feishu import (
    APP_ID,
    BOT_OPEN_ID,
    TOKEN,
    USER_OPEN_ID,
    FakeFeishu,
    encrypted_request,
    feishu_env,
    mention,
    message_event,
    post_event,
)
from tests.fakes.openai import FakeOpenAI
from tests.feishu_chat import send

SALES_APP, SALES_SECRET, SALES_KEY = "cli_sales000000001", "sales-secret", "sales encrypt key"
GROUP = "oc_group00000000000000000000000001"
OTHER_USER = "ou_other000000000000000000000000002"


def sales_app(fake: FakeFeishu, **extra: Any) -> dict[str, Any]:
    """A `feishu.apps` entry with its own credentials."""
    fake.apps[SALES_APP] = SALES_SECRET
    return {"id": "sales", "app_id": SALES_APP, "app_secret": SALES_SECRET, "base_url": fake.url,
            "encrypt_key": SALES_KEY, "verification_token": TOKEN, **extra}


async def start(start_service: StartService, fake: FakeFeishu, **config: Any) -> RunningService:
    section = {"retry_backoff": 0.01, "card_updates_per_second": 5, **config}
    return await start_service(config=base_config(feishu=section), env=feishu_env(fake),
                               adapters=[feishu.create])


def to_sales(service: RunningService, event: dict[str, Any]) -> Any:
    return send(service, event, key=SALES_KEY, path="/feishu/sales/events")


def saw(fake_openai: FakeOpenAI, call: int) -> str:
    """Everything the model was given in one call, as one string."""
    return " | ".join(str(m["content"]) for m in fake_openai.chat_calls[call]["messages"])


def in_group(text: str, mentioned: bool = True, **fields: Any) -> dict[str, Any]:
    mentions = [mention("@_user_1", BOT_OPEN_ID, "imbot")] if mentioned else None
    prefix = "@_user_1 " if mentioned else ""
    return message_event(prefix + text, chat_type="group", chat_id=GROUP, mentions=mentions,
                         **fields)


async def test_a_listed_app_is_served_at_its_path_and_replies_with_its_own_token(
    start_service: StartService, fake_feishu: FakeFeishu,
) -> None:
    service = await start(start_service, fake_feishu, apps=[sales_app(fake_feishu)])
    await to_sales(service, message_event("hi sales", app_id=SALES_APP))
    await send(service, message_event("hi default"))
    replies = fake_feishu.ops("reply")
    assert [call.app for call in replies] == [SALES_APP, APP_ID]


async def test_a_listed_app_refuses_events_signed_with_another_apps_key(
    start_service: StartService, fake_feishu: FakeFeishu,
) -> None:
    service = await start(start_service, fake_feishu, apps=[sales_app(fake_feishu)])
    body, headers = encrypted_request(message_event("x"))  # the default app's encrypt key
    status, _ = await post_event(service.http, service.url, body, headers,
                                 path="/feishu/sales/events")
    assert status in (400, 401, 403)
    assert fake_feishu.ops("reply") == []


async def test_two_apps_keep_the_same_users_history_apart(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu, apps=[sales_app(fake_feishu)])
    await send(service, message_event("my default secret"))
    await to_sales(service, message_event("question for sales", app_id=SALES_APP))
    await send(service, message_event("and again"))
    assert "my default secret" not in saw(fake_openai, 1)
    assert "my default secret" in saw(fake_openai, 2)
    assert "question for sales" not in saw(fake_openai, 2)


async def test_one_group_message_reaching_two_of_our_bots_is_answered_by_each(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu, apps=[sales_app(fake_feishu)])
    both = [mention("@_user_1", BOT_OPEN_ID, "imbot"),
            mention("@_user_2", fake_feishu.bot_of(SALES_APP), "salesbot")]
    event = message_event("@_user_1 @_user_2 hello both", chat_type="group", chat_id=GROUP,
                          mentions=both, message_id="om_shared_message_000000000000001")
    await send(service, event)
    await to_sales(service, {**event, "header": {**event["header"], "app_id": SALES_APP}})
    assert sorted(call.app for call in fake_feishu.ops("reply")) == sorted([APP_ID, SALES_APP])
    assert len(fake_openai.chat_calls) == 2


async def test_a_message_in_a_topic_is_answered_inside_the_topic(
    start_service: StartService, fake_feishu: FakeFeishu,
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, in_group("in a topic", thread_id="omt_topic1", root_id="om_root1"))
    await send(service, in_group("not in a topic"))
    first, second = fake_feishu.ops("reply")
    assert first.body["reply_in_thread"] is True
    assert second.body["reply_in_thread"] is False


async def test_a_topic_keeps_one_history_for_everyone_in_it(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, in_group("the plan is blue", thread_id="omt_t1", root_id="om_r1"))
    await send(service, in_group("what colour?", thread_id="omt_t1", root_id="om_r1",
                                 sender=OTHER_USER))
    await send(service, in_group("outside the topic"))
    assert "the plan is blue" in saw(fake_openai, 1)
    assert "the plan is blue" not in saw(fake_openai, 2)


async def test_with_thread_history_off_each_user_keeps_their_own_history_in_a_topic(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu, thread_history=False)
    await send(service, in_group("the plan is blue", thread_id="omt_t1", root_id="om_r1"))
    await send(service, in_group("what colour?", thread_id="omt_t1", root_id="om_r1",
                                 sender=OTHER_USER))
    assert "the plan is blue" not in saw(fake_openai, 1)


async def test_a_topic_started_by_mentioning_the_bot_goes_on_without_a_mention(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, in_group("start", message_id="om_root_started_by_mention_00001"))
    await send(service, in_group("follow-up", mentioned=False, thread_id="omt_new",
                                 root_id="om_root_started_by_mention_00001"))
    assert len(fake_openai.chat_calls) == 2
    assert fake_feishu.ops("reply")[-1].body["reply_in_thread"] is True


async def test_a_topic_the_bot_was_not_mentioned_in_gets_no_answer_without_a_mention(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, in_group("chatter", mentioned=False, thread_id="omt_x", root_id="om_x"))
    assert fake_openai.chat_calls == []


async def test_with_thread_needs_mention_every_topic_message_must_mention_the_bot(
    start_service: StartService, fake_feishu: FakeFeishu, fake_openai: FakeOpenAI,
) -> None:
    service = await start(start_service, fake_feishu, thread_needs_mention=True)
    await send(service, in_group("start", message_id="om_root_needs_mention_0000000001"))
    await send(service, in_group("follow-up", mentioned=False, thread_id="omt_n",
                                 root_id="om_root_needs_mention_0000000001"))
    assert len(fake_openai.chat_calls) == 1


async def test_the_environment_variables_still_define_the_default_app_at_feishu_events(
    start_service: StartService, fake_feishu: FakeFeishu,
) -> None:
    service = await start(start_service, fake_feishu)
    await send(service, message_event("hello", sender=USER_OPEN_ID))
    assert [call.app for call in fake_feishu.ops("reply")] == [APP_ID]
