"""Messages the service starts: `/api/send` to a subscriber (customer-service text or image), and
the custom menu created from `menu_layout` (`python -m bot wechat menu push`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import aiohttp

from adapters.wechat.account import OfficialAccount
from adapters.wechat.api import WeChatAPI, WeChatAPIError
from bot.errors import BadRequest, StorageUnavailable
from bot.platform import Check, Push, PushRefused

MAX_TEXT_BYTES = 2048  # WeChat's customer-service text limit (UTF-8 bytes)


def _api(accounts: Mapping[str, OfficialAccount], account: str) -> WeChatAPI:
    found = accounts.get(account)
    if found is None:
        raise BadRequest(f"unknown wechat account {account[:40]!r}")
    if found.api is None:
        raise BadRequest(f"wechat account {account!r} has no app_id/app_secret: it cannot push")
    return found.api


class WeChatPusher:
    """Sends a push through the account's customer-service API."""

    def __init__(self, accounts: Mapping[str, OfficialAccount]) -> None:
        self._accounts = accounts

    async def push(self, push: Push) -> str:
        """Text first, then the picture (uploaded as temporary media); our id for the send."""
        openid = push.to.get("openid", "")
        if set(push.to) != {"openid"} or not openid:
            raise BadRequest("'to' for wechat must be {\"openid\": \"...\"}")
        if len(push.text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise BadRequest(f"'text' is over WeChat's {MAX_TEXT_BYTES} bytes")
        api = _api(self._accounts, push.account)
        try:
            if push.text:
                await api.send_text(openid, push.text)
            if push.image is not None and push.image.data is not None:
                await api.send_image(openid, await api.upload_image(push.image.data,
                                                                    push.image.mime))
        except WeChatAPIError as exc:
            raise PushRefused(exc.code, exc.meaning) from None
        except (aiohttp.ClientError, TimeoutError, StorageUnavailable) as exc:
            raise PushRefused(-1, f"WeChat could not be reached ({type(exc).__name__})") from None
        return uuid.uuid4().hex


async def menu_push(accounts: Mapping[str, OfficialAccount], account: str) -> Check:
    """Create `account`'s custom menu from its `wechat.menu_layout`."""
    name = f"wechat menu ({account})"
    found = accounts.get(account)
    if found is None:
        return Check(name, False, f"no such account; configured: {', '.join(accounts)}")
    if not found.settings.menu_layout:
        return Check(name, False, "no wechat.menu_layout configured for this account")
    try:
        await _api(accounts, account).create_menu(found.settings.menu_layout)
    except BadRequest as exc:
        return Check(name, False, str(exc))
    except WeChatAPIError as exc:
        return Check(name, False, f"errcode {exc.code}: {exc.meaning}")
    except (aiohttp.ClientError, TimeoutError, StorageUnavailable) as exc:
        return Check(name, False, f"{type(exc).__name__}: {exc}")
    return Check(name, True, f"{len(found.settings.menu_layout)} top-level button(s) created")
