"""Several official accounts in one process, and the Official Account basics (follow greeting,
QR scenes, menu CLICK and VIEW, keywords, the menu push), through the real endpoint."""

from __future__ import annotations

from typing import Any

from adapters import wechat
from adapters.wechat.texts import DEFAULTS as TEXTS
from bot.cli import platform_command
from tests.conftest import StartService
from tests.fakes.openai import FakeOpenAI
from tests.fakes.wechat import (
    APP_ID,
    FakeWeChatAPI,
    WeChatPusher,
    message_xml,
    start_wechat,
    text_xml,
    wechat_api,
)

FAST: dict[str, Any] = {"deadline": 2.0, "hold": 3.0}
SECOND_APP, SECOND_SECRET, SECOND_TOKEN = "wx2222222222222222", "second-secret", "second-token"


def second_account(api: FakeWeChatAPI | None = None, **extra: Any) -> dict[str, Any]:
    """A `wechat.accounts` entry with its own token (and API credentials with `api`)."""
    entry: dict[str, Any] = {"id": "shop", "token": SECOND_TOKEN, **extra}
    if api is not None:
        api.apps[SECOND_APP] = SECOND_SECRET
        entry.update(app_id=SECOND_APP, app_secret=SECOND_SECRET, api_base=api.url)
    return entry


def pusher_for(first: WeChatPusher, account: str, token: str) -> WeChatPusher:
    """A pusher aimed at another account of the same service."""
    return WeChatPusher(first.url, token=token, http=first.http, service=first.service,
                        path=f"/wechat/{account}")


def llm_texts(fake: FakeOpenAI, call: int) -> list[str]:
    """The contents the model saw in one chat call."""
    return [str(m["content"]) for m in fake.chat_calls[call]["messages"]]


async def test_the_environment_variables_still_define_the_default_account_at_wechat(
    start_service: StartService,
) -> None:
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(text_xml("hello"))
    assert reply is not None
    assert reply.content == "You said: hello"


async def test_a_listed_account_is_served_at_its_own_path_with_its_own_token(
    start_service: StartService,
) -> None:
    first = await start_wechat(start_service, accounts=[second_account()], **FAST)
    shop = pusher_for(first, "shop", SECOND_TOKEN)
    reply, _ = await shop.push(text_xml("hi shop"))
    assert reply is not None
    assert reply.content == "You said: hi shop"
    wrong = pusher_for(first, "shop", "test-token")  # the default account's token
    refused, _ = await wrong.push(text_xml("x"))
    assert refused is not None
    assert refused.status == 403


async def test_two_accounts_never_see_each_others_history_for_the_same_openid(
    start_service: StartService, fake_openai: FakeOpenAI,
) -> None:
    first = await start_wechat(start_service, accounts=[second_account()], **FAST)
    shop = pusher_for(first, "shop", SECOND_TOKEN)
    await first.push(text_xml("secret of the default account", msg_id=1))
    await shop.push(text_xml("question to the shop", msg_id=1))
    await first.push(text_xml("again", msg_id=2))
    shop_saw = llm_texts(fake_openai, 1)
    assert not any("secret of the default account" in text for text in shop_saw)
    assert any("secret of the default account" in text for text in llm_texts(fake_openai, 2))
    assert not any("question to the shop" in text for text in llm_texts(fake_openai, 2))


async def test_each_account_fetches_and_uses_its_own_access_token(
    start_service: StartService,
) -> None:
    async with wechat_api() as api:
        first = await start_wechat(start_service, api=api,
                                   accounts=[second_account(api, customer_service=True)],
                                   customer_service=True, **FAST)
        adapter = first.service.services.pushers["wechat"]
        accounts = adapter._accounts  # the pusher's view of the accounts
        default_token = await accounts["default"].api.token()
        shop_token = await accounts["shop"].api.token()
    assert api.issued[default_token] == APP_ID
    assert api.issued[shop_token] == SECOND_APP
    assert default_token != shop_token


async def test_subscribe_gets_each_accounts_own_welcome(start_service: StartService) -> None:
    first = await start_wechat(start_service, welcome="Welcome to A",
                               accounts=[second_account(welcome="Welcome to the shop")], **FAST)
    shop = pusher_for(first, "shop", SECOND_TOKEN)
    subscribe = message_xml("event", "<Event><![CDATA[subscribe]]></Event>")
    default_reply, _ = await first.push(subscribe)
    shop_reply, _ = await shop.push(subscribe)
    assert default_reply is not None
    assert shop_reply is not None
    assert (default_reply.content, shop_reply.content) == ("Welcome to A", "Welcome to the shop")


async def test_subscribe_and_scan_with_a_mapped_scene_get_the_scenes_text(
    start_service: StartService,
) -> None:
    pusher = await start_wechat(start_service, scenes={"store42": "Welcome, visitor of store 42"},
                                **FAST)
    subscribe = ("<Event><![CDATA[subscribe]]></Event>"
                 "<EventKey><![CDATA[qrscene_store42]]></EventKey><Ticket>T</Ticket>")
    scan = "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[store42]]></EventKey><Ticket>T</Ticket>"
    followed, _ = await pusher.push(message_xml("event", subscribe))
    scanned, _ = await pusher.push(message_xml("event", scan, create_time=1357290999))
    assert followed is not None
    assert scanned is not None
    assert followed.content == scanned.content == "Welcome, visitor of store 42"


async def test_an_unmapped_scene_on_subscribe_falls_back_to_the_welcome(
    start_service: StartService,
) -> None:
    pusher = await start_wechat(start_service, scenes={"store42": "x"}, **FAST)
    subscribe = ("<Event><![CDATA[subscribe]]></Event>"
                 "<EventKey><![CDATA[qrscene_other]]></EventKey><Ticket>T</Ticket>")
    reply, _ = await pusher.push(message_xml("event", subscribe))
    assert reply is not None
    assert reply.content == TEXTS["wechat_welcome"]


async def test_a_click_mapped_to_text_gets_that_text_without_the_llm(
    start_service: StartService, fake_openai: FakeOpenAI,
) -> None:
    pusher = await start_wechat(start_service, menu={"HOURS": "Open 9-18 daily"}, **FAST)
    click = "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[HOURS]]></EventKey>"
    reply, _ = await pusher.push(message_xml("event", click))
    assert reply is not None
    assert reply.content == "Open 9-18 daily"
    assert fake_openai.chat_calls == []


async def test_a_click_mapped_to_a_command_runs_it_as_if_typed(
    start_service: StartService, fake_openai: FakeOpenAI,
) -> None:
    pusher = await start_wechat(start_service, menu={"HELP": "/help"}, **FAST)
    click = "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[HELP]]></EventKey>"
    typed, _ = await pusher.push(text_xml("/help", msg_id=7))
    reply, _ = await pusher.push(message_xml("event", click))
    assert reply is not None
    assert typed is not None
    assert reply.content == typed.content
    assert reply.content is not None
    assert "/reset" in reply.content
    assert fake_openai.chat_calls == []


async def test_a_view_event_needs_no_answer(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, menu={"HOURS": "x"}, **FAST)
    view = "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://shop.test/]]></EventKey>"
    reply, _ = await pusher.push(message_xml("event", view))
    assert reply is not None
    assert (reply.status, reply.body) == (200, "success")


async def test_a_keyword_is_answered_with_its_text_without_the_llm_or_history(
    start_service: StartService, fake_openai: FakeOpenAI,
) -> None:
    keywords = {"营业时间": "9:00-18:00", "re:^(phone|电话)": "+86 10 1234 5678"}
    pusher = await start_wechat(start_service, keywords=keywords, **FAST)
    hours, _ = await pusher.push(text_xml(" 营业时间 ", msg_id=1))
    phone, _ = await pusher.push(text_xml("phone number?", msg_id=2))
    assert hours is not None
    assert phone is not None
    assert (hours.content, phone.content) == ("9:00-18:00", "+86 10 1234 5678")
    assert fake_openai.chat_calls == []
    await pusher.push(text_xml("a real question", msg_id=3))
    seen = llm_texts(fake_openai, 0)
    assert not any("营业时间" in text or "9:00-18:00" in text for text in seen)


async def test_keywords_are_per_account(start_service: StartService,
                                        fake_openai: FakeOpenAI) -> None:
    first = await start_wechat(start_service, accounts=[second_account(keywords={"hours": "shop"})],
                               **FAST)
    shop = pusher_for(first, "shop", SECOND_TOKEN)
    at_shop, _ = await shop.push(text_xml("hours"))
    at_default, _ = await first.push(text_xml("hours"))
    assert at_shop is not None
    assert at_default is not None
    assert (at_shop.content, at_default.content) == ("shop", "You said: hours")


async def test_menu_push_creates_the_menu_from_the_layout(start_service: StartService) -> None:
    layout = [{"type": "click", "name": "Hours", "key": "HOURS"},
              {"type": "view", "name": "Shop", "url": "https://shop.test/"}]
    async with wechat_api() as api:
        pusher = await start_wechat(start_service, api=api, menu_layout=layout, **FAST)
        checks = await platform_command(pusher.service.services.settings, [wechat.create],
                                        "wechat", ["menu", "push"], "default")
    assert [c.ok for c in checks] == [True]
    assert api.menus == [layout]
