"""The passive reply at WeChat's 5-second boundary: an answer is written only while WeChat listens.

An answer taken just before `listens` but answered after it must not go out at all: a late write
can still be read by WeChat (its clock is not ours), yet it would be recorded as unread, so the
late delivery would send it a second time.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from unittest import mock

from aiohttp.test_utils import make_mocked_request

from adapters.wechat.delivery import Delivery, Served
from adapters.wechat.parse import Inbound
from adapters.wechat.routes import Endpoint
from adapters.wechat.settings import WeChatSettings

MSG = Inbound(kind="text", event="", openid="o1", account="gh_account", key="1", text="hi")


def endpoint() -> Endpoint:
    settings = WeChatSettings(token="t")
    return Endpoint(settings, None, cast(Delivery, None), vision=True, media=False)


async def respond(started_ago: float) -> tuple[str, list[bool]]:
    outcomes: list[bool] = []

    async def after(received: bool) -> None:
        outcomes.append(received)

    transport = mock.Mock(is_closing=mock.Mock(return_value=False))  # WeChat's connection is open
    request = make_mocked_request("POST", "/wechat", transport=transport)
    started = asyncio.get_running_loop().time() - started_ago
    response: Any = await endpoint()._respond(request, MSG, Served("the answer", after),
                                              encrypted=False, started=started)
    return response.text, outcomes


async def test_an_answer_ready_after_wechat_stopped_listening_is_not_sent_and_counts_unread() -> None:
    body, outcomes = await respond(started_ago=WeChatSettings(token="t").listens + 0.01)
    assert body == ""
    assert outcomes == [False]


async def test_an_answer_in_time_is_written_and_counts_read() -> None:
    body, outcomes = await respond(started_ago=0.0)
    assert "the answer" in body
    assert outcomes == [True]
