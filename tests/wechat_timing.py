"""WeChat's 5-second timeout and its retries scaled down: a pusher that gives up after 0.7 s."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartService
from tests.fakes.wechat import FakeWeChatAPI, WeChatPusher, start_wechat

# Attempts start at ~0, ~0.7 and ~1.4 s; the last one is answered "still thinking" at ~1.8 s.
TIMING: dict[str, Any] = {"deadline": 0.4, "hold": 1.0, "listens": 0.7}
WECHAT_WAITS = 0.7  # how long the pusher, playing WeChat, waits for each attempt


async def start_retrying(start_service: StartService, api: FakeWeChatAPI | None = None,
                         env: dict[str, str] | None = None, **wechat: Any) -> WeChatPusher:
    """The WeChat adapter on the short timing, and a pusher that retries as WeChat does."""
    pusher = await start_wechat(start_service, api=api, env=env, **TIMING, **wechat)
    pusher.timeout = WECHAT_WAITS
    return pusher
