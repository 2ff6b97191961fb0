"""Pictures out (/image) on every delivery path, voice in (AMR decoded in process), the output format."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from adapters.wechat.api import WeChatAPI
from adapters.wechat.render import plain_text
from adapters.wechat.texts import DEFAULTS as TEXTS
from bot.storage.memory import MemoryStorage
from tests.conftest import StartService
from tests.fakes.audio import amr_noise
from tests.fakes.openai import PNG_B64, FakeOpenAI
from tests.fakes.wechat import (
    APP_ID,
    APP_SECRET,
    OPENID,
    FakeWeChatAPI,
    message_xml,
    settle,
    start_wechat,
    text_xml,
)
from tests.markdown_sample import SAMPLE
from tests.wechat_timing import start_retrying

FAST: dict[str, Any] = {"deadline": 2.0, "hold": 3.0}


async def test_image_in_time_is_a_passive_image_reply_with_the_uploaded_picture(
    start_service: StartService, fake_wechat: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    pusher = await start_wechat(start_service, api=fake_wechat, **FAST)
    reply, _ = await pusher.push(text_xml("/image a red fox"))
    assert reply is not None
    [upload] = fake_wechat.uploads
    assert reply.media_id == upload["media_id"]
    assert (upload["type"], upload["content_type"], upload["data"]) == (
        "image", "image/png", base64.b64decode(PNG_B64))
    assert fake_openai.images[0]["prompt"] == "a red fox"


async def test_image_in_safe_mode_is_an_encrypted_image_reply(
    start_service: StartService, fake_wechat: FakeWeChatAPI
) -> None:
    pusher = await start_wechat(start_service, api=fake_wechat, mode="safe", **FAST)
    reply, _ = await pusher.push(text_xml("/画图 一只狐狸"))
    assert reply is not None
    assert (reply.encrypted, reply.media_id) == (True, fake_wechat.uploads[0]["media_id"])


async def test_late_image_goes_out_through_customer_service(
    start_service: StartService, fake_wechat: FakeWeChatAPI
) -> None:
    fake_wechat.upload_latency = 2.0  # past the last attempt's deadline
    pusher = await start_retrying(start_service, api=fake_wechat, customer_service=True)
    reply, _ = await pusher.push(text_xml("/image a slow fox"))
    sent = await fake_wechat.wait_sent(1)
    assert reply is not None
    assert reply.content == TEXTS["wechat_thinking_push"]
    assert sent == [{"touser": OPENID, "msgtype": "image",
                     "image": {"media_id": fake_wechat.uploads[0]["media_id"]}}]


async def test_late_image_without_customer_service_is_announced_by_name_and_sent_on_more(
    start_service: StartService, fake_wechat: FakeWeChatAPI
) -> None:
    fake_wechat.upload_latency = 2.0
    pusher = await start_retrying(start_service, api=fake_wechat)
    await pusher.push(text_xml("/image a slow fox", msg_id=1))
    await settle()
    pusher.timeout = 5.0
    fake_wechat.upload_latency = 0.0
    answer, _ = await pusher.push(text_xml("hi", msg_id=2))
    more, _ = await pusher.push(text_xml("继续", msg_id=3))
    assert answer is not None
    assert more is not None
    assert answer.content == f"You said: hi\n\n{TEXTS['wechat_picture_hint']}"
    assert more.media_id == fake_wechat.uploads[0]["media_id"]


async def test_failed_upload_is_a_friendly_text(start_service: StartService,
                                                fake_wechat: FakeWeChatAPI) -> None:
    fake_wechat.upload_errors.append(40009)
    pusher = await start_wechat(start_service, api=fake_wechat, **FAST)
    reply, _ = await pusher.push(text_xml("/image a huge fox"))
    assert reply is not None
    assert reply.content == TEXTS["wechat_image_failed"]


async def test_image_without_the_server_api_is_a_friendly_text(start_service: StartService) -> None:
    pusher = await start_wechat(start_service, **FAST)
    reply, _ = await pusher.push(text_xml("/image a fox"))
    assert reply is not None
    assert reply.content == TEXTS["wechat_image_failed"]


async def test_upload_with_a_stale_token_is_refreshed_once(fake_wechat: FakeWeChatAPI) -> None:
    async with aiohttp.ClientSession() as http:
        client = WeChatAPI(http, MemoryStorage(), fake_wechat.url, APP_ID, APP_SECRET)
        await client.token()
        fake_wechat.expire_tokens()
        media_id = await client.upload_image(b"\xff\xd8jpeg", "image/jpeg")
    assert (media_id, fake_wechat.uploads[0]["filename"]) == (fake_wechat.uploads[0]["media_id"], "image.jpg")


async def test_amr_voice_is_downloaded_converted_and_transcribed(
    start_service: StartService, fake_wechat: FakeWeChatAPI, fake_openai: FakeOpenAI
) -> None:
    fake_wechat.media["v1"] = (amr_noise(), "audio/amr")
    pusher = await start_wechat(start_service, api=fake_wechat, voice_reply="never", **FAST)
    fields = "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format>"
    reply, _ = await pusher.push(message_xml("voice", fields))
    assert reply is not None
    assert reply.content is not None
    assert (fake_openai.uploads[0]["filename"], fake_openai.uploads[0]["content_type"]) == (
        "audio.mp3", "audio/mpeg")
    assert reply.content.endswith(f"You said: {fake_openai.transcript}")


def test_markdown_sample_becomes_legible_plain_text() -> None:
    assert plain_text(SAMPLE) == (
        "【Release notes】\n\n"
        "Some bold words and a link (https://example.com/docs).\n\n"
        "【Steps】\n\n"
        "1. Install it\n"
        "2. Run it\n"
        "   • with --fast\n"
        "   • or slowly\n\n"
        "def hello():\n"
        '    return "**not bold**"\n\n'
        "name | value\n"
        "a | 1"
    )
