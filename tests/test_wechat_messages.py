"""Message types and events, output rendering and long answers, through the real endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from wechatpy import parse_message

from adapters.wechat.parse import inbound
from adapters.wechat.texts import DEFAULTS as TEXTS
from tests.conftest import StartService
from tests.fakes.openai import FakeOpenAI
from tests.fakes.wechat import message_xml, start_wechat, text_xml, wechat_api

FAST: dict[str, Any] = {"deadline": 2.0, "hold": 3.0}


async def test_markdown_answer_arrives_as_plain_text(start_service: StartService,
                                                     fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = lambda body: "## Steps\n\n- **first** step\n- see [docs](https://x.test)"
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(text_xml("how?"))
    assert reply is not None
    assert reply.content == "【Steps】\n\n• first step\n• see docs (https://x.test)"


async def test_cdata_terminator_in_an_answer_survives(start_service: StartService,
                                                      fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = lambda body: "a ]]> b"
    pusher = await start_wechat(start_service, mode="safe", **FAST)
    reply, _ = await pusher.push(text_xml("x"))
    assert reply is not None
    assert reply.content == "a ]]> b"


async def test_reasoning_never_reaches_the_subscriber(start_service: StartService,
                                                      fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = lambda body: "<think>secret plan</think>The answer."
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(text_xml("x"))
    assert reply is not None
    assert reply.content == "The answer."


async def test_long_answer_first_part_fits_the_byte_limit_with_a_continuation_hint(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "\n\n".join(f"段落{i}：" + "很长的回答。" * 40 for i in range(8))
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(text_xml("long"))
    assert reply is not None
    assert reply.content is not None
    assert len(reply.content.encode("utf-8")) <= 2047
    assert reply.content.endswith(TEXTS["wechat_more_hint"])


async def test_continuation_word_serves_the_rest_without_the_llm(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    paragraphs = [f"段落{i}：" + "很长的回答。" * 40 for i in range(8)]
    fake_openai.reply = lambda body: "\n\n".join(paragraphs)
    pusher = await start_wechat(start_service, **FAST)
    await pusher.push(text_xml("long", msg_id=1))
    contents = []
    for msg_id in range(2, 12):
        reply, _ = await pusher.push(text_xml("继续", msg_id=msg_id))
        assert reply is not None
        assert reply.content is not None
        contents.append(reply.content)
        if not reply.content.endswith(TEXTS["wechat_more_hint"]):
            break
    assert contents[-1].endswith(paragraphs[-1])
    assert len(fake_openai.chat_calls) == 1


async def test_subscribe_gets_the_configured_welcome(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, texts={"welcome": "Hi there"}, **FAST)
    reply, _ = await pusher.push(message_xml("event", "<Event><![CDATA[subscribe]]></Event>"))
    assert reply is not None
    assert reply.content == "Hi there"


async def test_subscribe_by_qr_code_also_gets_the_welcome(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    fields = ("<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123]]></EventKey>"
              "<Ticket><![CDATA[T]]></Ticket>")
    reply, _ = await pusher.push(message_xml("event", fields))
    assert reply is not None
    assert reply.content == TEXTS["wechat_welcome"]


@pytest.mark.parametrize("event", ["unsubscribe", "CLICK", "VIEW", "LOCATION", "TEMPLATESENDJOBFINISH"])
async def test_other_events_are_answered_success(start_service: StartService, event: str) -> None:
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(message_xml("event", f"<Event><![CDATA[{event}]]></Event>"))
    assert reply is not None
    assert (reply.status, reply.body) == (200, "success")


async def test_voice_with_recognition_goes_to_the_llm(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    fields = ("<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>"
              "<Recognition><![CDATA[腾讯微信团队]]></Recognition>")
    reply, _ = await pusher.push(message_xml("voice", fields))
    assert reply is not None
    assert reply.content == "You said: 腾讯微信团队"


async def test_voice_without_recognition_gets_a_polite_text(start_service: StartService,
                                                            fake_openai: FakeOpenAI) -> None:
    pusher = await start_wechat(start_service, **FAST)
    fields = "<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>"
    reply, _ = await pusher.push(message_xml("voice", fields))
    assert reply is not None
    assert reply.content == TEXTS["wechat_voice_unsupported"]


async def test_voice_without_recognition_is_downloaded_and_transcribed(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    async with wechat_api() as api:
        api.media["v1"] = (b"ID3 fake mp3", "audio/mpeg")
        pusher = await start_wechat(start_service, api=api, voice_reply="never", **FAST)
        fields = "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format>"
        reply, _ = await pusher.push(message_xml("voice", fields))
    assert reply is not None
    assert reply.content is not None
    assert reply.content.endswith(f"You said: {fake_openai.transcript}")


async def test_image_without_vision_gets_a_polite_text(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, llm={"vision": False}, **FAST)
    fields = "<PicUrl><![CDATA[http://pic]]></PicUrl><MediaId><![CDATA[m]]></MediaId>"
    reply, _ = await pusher.push(message_xml("image", fields))
    assert reply is not None
    assert reply.content == TEXTS["wechat_image_unsupported"]


async def test_image_with_vision_sends_the_downloaded_picture_to_the_model(
    start_service: StartService, fake_openai: FakeOpenAI
) -> None:
    async with wechat_api() as api:
        api.media["m1"] = (b"\x89PNG fake", "image/png")
        pusher = await start_wechat(start_service, api=api, llm={"vision": True}, **FAST)
        fields = "<PicUrl><![CDATA[http://pic]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>"
        await pusher.push(message_xml("image", fields))
    content = fake_openai.chat_calls[0]["messages"][-1]["content"]
    assert content[1]["image_url"]["url"] == "data:image/png;base64,iVBORyBmYWtl"


@pytest.mark.parametrize(("kind", "fields"), [
    ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>20</Scale>"
                 "<Label><![CDATA[x]]></Label>"),
    ("link", "<Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[u]]></Url>"),
    ("video", "<MediaId><![CDATA[m]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>"),
    ("somethingnew", "<Foo>bar</Foo>"),
])
async def test_other_message_types_get_a_polite_text(start_service: StartService, kind: str,
                                                     fields: str) -> None:
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(message_xml(kind, fields))
    assert reply is not None
    assert reply.content == TEXTS["wechat_unsupported"]


def test_events_are_keyed_by_sender_and_create_time_not_wechatpys_zero_id() -> None:
    first = inbound(message_xml("event", "<Event>subscribe</Event>", create_time=100))
    second = inbound(message_xml("event", "<Event>subscribe</Event>", create_time=101))
    assert first.key != second.key


def test_messages_are_keyed_by_msgid() -> None:
    assert inbound(text_xml("x", msg_id=42)).key == "42"


@pytest.mark.parametrize(("kind", "fields"), [
    ("text", "<Content><![CDATA[你好 <b>]]></Content>"),
    ("voice", "<MediaId>m1</MediaId><Format>amr</Format><Recognition>说话</Recognition>"),
    ("voice", "<MediaId>m1</MediaId><Format>amr</Format>"),
    ("image", "<PicUrl>http://x/p.jpg</PicUrl><MediaId>m2</MediaId>"),
    ("video", "<MediaId>m3</MediaId><ThumbMediaId>t</ThumbMediaId>"),
    ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Label>x</Label>"),
    ("link", "<Title>t</Title><Description>d</Description><Url>http://x</Url>"),
    ("miniprogrampage", "<Title>t</Title>"),
    ("event", "<Event>subscribe</Event><EventKey>qrscene_7</EventKey>"),
    ("event", "<Event>CLICK</Event><EventKey>menu_help</EventKey>"),
])
def test_each_push_reads_as_wechatpys_own_parse_of_it(kind: str, fields: str) -> None:
    xml = message_xml(kind, fields)
    ours, theirs = inbound(xml), parse_message(xml)
    assert ours.kind == theirs.type
    assert (ours.openid, ours.account) == (theirs.source, theirs.target)
    assert ours.text == (getattr(theirs, "content", "") if kind == "text"
                         else getattr(theirs, "recognition", None) or "")
    assert ours.event == (theirs.event if kind == "event" else "")
