"""WeChat Official Account (公众号): verification, the three message modes, the 5-second deadline.

Modules by job: `settings` (the `wechat:` section and `wechat.accounts`), `verify` (signatures,
replay window), `crypto` (AES modes), `parse` (safe XML into `Inbound`), `events` (follow, QR
scenes, menu CLICK/VIEW), `render` (plain text, byte-sized parts, reply XML), `record` (a message's
delivery states and transitions, pure), `ledger` (the records in storage, each transition one
atomic swap), `delivery` (one push: answer now / hold / "still thinking"), `maker` (the one LLM
call, under a lease), `settle` (the durable job that delivers what is left), `outbox` (customer
service and hand-over), `local` (this instance's runs), `produce` (the pipeline run and the
parts), `api` (access token, customer service, media, menu), `account` (one account's parts),
`push` (`/api/send` and the menu command), `routes` (HTTP).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from adapters.wechat import settings as wechat_settings
from adapters.wechat.account import OfficialAccount, record_ttl
from adapters.wechat.push import WeChatPusher, menu_push
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.texts import PLATFORM, registered
from bot.platform import Adapter, Check, ConnectionHealth, OperatorCommands, Services

__all__ = ["COMMANDS", "WeChatAdapter", "create", "record_ttl"]

COMMANDS = OperatorCommands("wechat", "an official account's operator commands: menu push",
                            "menu push: create the menu from menu_layout")
"""`python -m bot wechat menu push [--account ID]`."""


class WeChatAdapter:
    """Every configured official account: `/wechat` (`default`) and `/wechat/{id}`."""

    name = "wechat"

    def __init__(self, accounts: Sequence[WeChatSettings], services: Services) -> None:
        self.accounts = {s.account: OfficialAccount(s, services) for s in accounts}
        services.pushers[self.name] = WeChatPusher(self.accounts)

    def routes(self) -> Sequence[web.RouteDef]:
        """`GET` and `POST` at each account's path."""
        return [route for account in self.accounts.values() for route in account.routes()]

    async def start(self) -> None:
        """Nothing runs in the background until a message arrives."""

    async def close(self) -> None:
        """Late deliveries are background tasks, drained by the core."""

    async def check(self) -> list[Check]:
        """Each account's access token, when it has an AppID and AppSecret."""
        return [await account.check() for account in self.accounts.values()]

    async def command(self, words: Sequence[str], account: str) -> list[Check]:
        """`menu push`: create the account's custom menu from its `menu_layout`."""
        if list(words) != ["menu", "push"]:
            return [Check("wechat", False, f"unknown command {' '.join(words)!r} (try: menu push)")]
        return [await menu_push(self.accounts, account)]

    def health(self) -> list[ConnectionHealth]:
        """No long connection: WeChat pushes every message over HTTP."""
        return []


def create(services: Services) -> Adapter | None:
    """Factory for `adapters.ENABLED`: None when no account has a token (WECHAT_TOKEN). Its
    texts are registered either way, so the root `texts:` may override them."""
    registered(services.texts)
    accounts = wechat_settings.read_all(services.config.section("wechat"), services.texts)
    for account in accounts:  # its messages hear its texts, the core's included
        services.texts.adopt(PLATFORM, account.account, account.texts)
    return WeChatAdapter(accounts, services) if accounts else None
