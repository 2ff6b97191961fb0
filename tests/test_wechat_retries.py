"""How a text answer reaches the subscriber across WeChat's timeout and retries: passively on the
first attempt or a retry, "still thinking" after the last, then customer service or hand-over."""

from __future__ import annotations

from adapters.wechat.texts import DEFAULTS as TEXTS
from tests.conftest import StartService
from tests.fakes.openai import FakeOpenAI
from tests.fakes.wechat import OPENID, settle, start_wechat, text_xml, wechat_api
from tests.wechat_timing import start_retrying


async def test_fast_answer_is_passive_on_the_first_attempt(start_service: StartService) -> None:
    pusher = await start_retrying(start_service)
    reply, attempts = await pusher.push(text_xml("hi"))
    assert reply is not None
    assert reply.content == "You said: hi"
    assert attempts == 1


async def test_retry_of_the_same_msgid_gets_the_answer(start_service: StartService,
                                                       fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 1.0
    pusher = await start_retrying(start_service)
    reply, attempts = await pusher.push(text_xml("slow"))
    assert reply is not None
    assert reply.content == "You said: slow"
    assert attempts == 2


async def test_retries_cost_one_llm_call(start_service: StartService, fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 1.0
    pusher = await start_retrying(start_service)
    await pusher.push(text_xml("slow"))
    await settle()
    assert len(fake_openai.chat_calls) == 1


async def test_two_instances_on_one_redis_share_one_llm_call(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    fake_openai.latency = 1.2
    env = {"REDIS_URL": redis_url}
    pusher = await start_retrying(start_service, env=env)
    second = await start_retrying(start_service, env=env)
    pusher.alternates = [second.url]
    reply, attempts = await pusher.push(text_xml("shared"))
    await settle()
    assert reply is not None
    assert reply.content == "You said: shared"
    assert (attempts, len(fake_openai.chat_calls)) == (2, 1)


async def test_slower_than_all_retries_says_still_thinking(start_service: StartService,
                                                           fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 2.5
    pusher = await start_retrying(start_service)
    reply, attempts = await pusher.push(text_xml("very slow"))
    await settle()
    assert reply is not None
    assert reply.content == TEXTS["wechat_thinking_handover"]
    assert attempts == 3


async def test_late_answer_goes_out_through_customer_service(start_service: StartService,
                                                             fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 2.5
    async with wechat_api() as api:
        pusher = await start_retrying(start_service, api=api, customer_service=True)
        reply, _ = await pusher.push(text_xml("very slow"))
        sent = await api.wait_sent(1)
    assert reply is not None
    assert reply.content == TEXTS["wechat_thinking_push"]
    assert sent == [{"touser": OPENID, "msgtype": "text", "text": {"content": "You said: very slow"}}]


async def handed_over(start_service: StartService, fake_openai: FakeOpenAI) -> str:
    """The reply to a quick second question, sent after a first one slower than every retry."""
    fake_openai.latency = 2.5
    pusher = await start_retrying(start_service)
    await pusher.push(text_xml("first question", msg_id=1))
    await settle()
    fake_openai.latency = 0
    reply, _ = await pusher.push(text_xml("second question", msg_id=2))
    assert reply is not None
    assert reply.content is not None
    return reply.content


async def test_late_answer_is_handed_over_on_the_next_message_which_is_answered_too(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    content = await handed_over(start_service, fake_openai)
    assert "You said: first question" in content
    assert content.endswith("You said: second question")


async def test_handed_over_answer_is_marked_as_the_earlier_one(start_service: StartService,
                                                               fake_openai: FakeOpenAI) -> None:
    content = await handed_over(start_service, fake_openai)
    assert content.startswith(TEXTS["wechat_earlier_answer"])


async def test_customer_service_failure_falls_back_to_hand_over(start_service: StartService,
                                                                fake_openai: FakeOpenAI) -> None:
    fake_openai.latency = 2.5
    async with wechat_api() as api:
        api.send_errors.append(45015)
        pusher = await start_retrying(start_service, api=api, customer_service=True)
        await pusher.push(text_xml("very slow", msg_id=1))
        await settle()
        fake_openai.latency = 0
        reply, _ = await pusher.push(text_xml("next", msg_id=2))
    assert reply is not None
    assert reply.content is not None
    assert "You said: very slow" in reply.content


async def test_answer_served_to_an_abandoned_last_attempt_is_not_lost(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    # One attempt only, and WeChat gives up (0.3 s) before the answer (0.6 s) lands within our
    # deadline (1 s): it is written to a dead connection, so it must be handed over instead.
    fake_openai.latency = 0.6
    pusher = await start_wechat(start_service, attempts=1, deadline=1.0, hold=1.0)
    pusher.timeout, pusher.attempts = 0.3, 1
    reply, _ = await pusher.push(text_xml("lost?", msg_id=1))
    await settle()
    fake_openai.latency = 0
    pusher.timeout = 5.0
    later, _ = await pusher.push(text_xml("next", msg_id=2))
    assert reply is None
    assert later is not None
    assert later.content is not None
    assert "You said: lost?" in later.content


async def test_long_answer_rest_goes_out_through_customer_service(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "\n\n".join("很长的回答。" * 100 for _ in range(3))
    async with wechat_api() as api:
        pusher = await start_wechat(start_service, api=api, customer_service=True,
                                             deadline=2.0, hold=3.0)
        reply, _ = await pusher.push(text_xml("long"))
        sent = await api.wait_sent(2)
    assert reply is not None
    assert reply.content is not None
    assert not reply.content.endswith(TEXTS["wechat_more_hint"])
    assert all(len(m["text"]["content"].encode()) <= 2047 for m in sent)


async def test_answer_no_retry_collected_is_delivered_late(start_service: StartService,
                                                           fake_openai: FakeOpenAI) -> None:
    # WeChat's retries never come (they went to an instance that was down): the only delivery
    # gave up at 0.3 s, before the answer (0.4 s). Once the retries are surely over, hand it over.
    fake_openai.latency = 0.4
    pusher = await start_wechat(start_service, deadline=0.4, hold=0.5)
    pusher.timeout, pusher.attempts = 0.3, 1
    await pusher.push(text_xml("forgotten?", msg_id=1))
    await settle()
    fake_openai.latency = 0
    pusher.timeout = 5.0
    later, _ = await pusher.push(text_xml("next", msg_id=2))
    assert later is not None
    assert later.content is not None
    assert "You said: forgotten?" in later.content
