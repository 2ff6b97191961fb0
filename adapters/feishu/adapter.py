"""The Feishu adapter object: each app's route or long connection, its push and its self-check."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.feishu.api import FeishuAPI
from adapters.feishu.errors import FeishuError
from adapters.feishu.inbound import PLATFORM, Inbound
from adapters.feishu.push import FeishuPusher
from adapters.feishu.routes import Callback
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.token import TenantToken
from adapters.feishu.verify import Keys
from bot.platform import Check, ConnectionHealth, Services

if TYPE_CHECKING:
    from adapters.feishu.ws import LongConnection

log = logging.getLogger(__name__)


class FeishuApp:
    """One app's parts: token, API, inbound path, callback and long connection, kept apart."""

    def __init__(self, services: Services, settings: FeishuSettings) -> None:
        self.settings = settings
        self.token = TenantToken(settings, services.http, services.storage)
        self.api = FeishuAPI(settings, services.http, self.token)
        self.inbound = Inbound(services, settings, self.api)
        keys = Keys(settings.verification_token.reveal(), settings.encrypt_key.reveal(),
                    settings.replay_window)
        self.callback = Callback(keys, self.inbound)
        self.connection: LongConnection | None = None
        if settings.mode == "websocket":
            # lark-oapi does real work here (the long connection's protocol); webhook-mode apps
            # never load it (~140 MB of RSS)
            from adapters.feishu.ws import LongConnection

            self.connection = LongConnection(settings, self.inbound)
        services.accounts.register(PLATFORM, settings.account, settings.profile)
        if settings.mode == "webhook" and not (keys.verification_token or keys.encrypt_key):
            log.warning("feishu: app %s has neither a verification token nor an encrypt key; "
                        "anyone can post events to %s", settings.account, settings.path)

    async def check(self) -> Check:
        """The tenant token and the bot's identity."""
        name = f"feishu tenant token ({self.settings.account})"
        try:
            await self.token.fetch()  # the credentials, checked with Feishu itself
            open_id = await self.api.bot_open_id()
        except FeishuError as exc:
            return Check(name, False, str(exc))
        return Check(name, True, f"{self.settings.base_url}, mode {self.settings.mode}, "
                                 f"bot open_id {open_id or '?'}")


class FeishuAdapter:
    """`POST /feishu/events` (`default`) and `/feishu/{id}/events` in webhook mode; one long
    connection per app in websocket mode."""

    name = "feishu"

    def __init__(self, services: Services, apps: Sequence[FeishuSettings]) -> None:
        self.apps = {s.account: FeishuApp(services, s) for s in apps}
        services.pushers[self.name] = FeishuPusher({k: a.api for k, a in self.apps.items()})

    def _websocket(self) -> list[LongConnection]:
        return [app.connection for app in self.apps.values() if app.connection is not None]

    def routes(self) -> Sequence[web.RouteDef]:
        """The event callbacks (webhook mode only: the long connection needs no public URL)."""
        return [web.post(app.settings.path, app.callback.handle) for app in self.apps.values()
                if app.settings.mode == "webhook"]

    async def start(self) -> None:
        """Open each websocket-mode app's long connection."""
        for connection in self._websocket():
            await connection.start()

    async def close(self) -> None:
        """Close the long connections."""
        for connection in self._websocket():
            await connection.close()

    async def check(self) -> list[Check]:
        """Each app's tenant token and bot identity."""
        return [await app.check() for app in self.apps.values()]

    def health(self) -> list[ConnectionHealth]:
        """Each long connection's state and the age of its last event."""
        return [connection.health() for connection in self._websocket()]

    async def command(self, words: Sequence[str], account: str) -> list[Check]:
        """The Feishu adapter has no operator commands."""
        return [Check("feishu", False, "no commands")]
