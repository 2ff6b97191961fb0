"""The Feishu adapter object: its route, its long connection and its self-check."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web

from adapters.feishu.api import FeishuAPI
from adapters.feishu.errors import FeishuError
from adapters.feishu.inbound import Inbound
from adapters.feishu.routes import Callback
from adapters.feishu.settings import FeishuSettings
from adapters.feishu.token import TenantToken
from adapters.feishu.verify import Keys
from adapters.feishu.ws import LongConnection
from bot.platform import Check, ConnectionHealth, Services

log = logging.getLogger(__name__)


class FeishuAdapter:
    """`POST /feishu/events` in webhook mode, or the long connection in websocket mode."""

    name = "feishu"

    def __init__(self, services: Services, settings: FeishuSettings) -> None:
        self.settings = settings
        self.token = TenantToken(settings, services.http, services.storage)
        self.api = FeishuAPI(settings, services.http, self.token)
        self.inbound = Inbound(services, settings, self.api)
        keys = Keys(settings.verification_token.reveal(), settings.encrypt_key.reveal(),
                    settings.replay_window)
        self.callback = Callback(keys, self.inbound)
        self.connection = LongConnection(settings, self.inbound)
        if settings.mode == "webhook" and not (keys.verification_token or keys.encrypt_key):
            log.warning("feishu: neither FEISHU_VERIFICATION_TOKEN nor FEISHU_ENCRYPT_KEY is set; "
                        "anyone can post events to /feishu/events")

    def routes(self) -> Sequence[web.RouteDef]:
        """The event callback (webhook mode only: the long connection needs no public URL)."""
        if self.settings.mode != "webhook":
            return []
        return [web.post("/feishu/events", self.callback.handle)]

    async def start(self) -> None:
        """Open the long connection in websocket mode."""
        if self.settings.mode == "websocket":
            await self.connection.start()

    async def close(self) -> None:
        """Close the long connection."""
        if self.settings.mode == "websocket":
            await self.connection.close()

    async def check(self) -> list[Check]:
        """The tenant token and the bot's identity."""
        try:
            await self.token.refresh()
            open_id = await self.api.bot_open_id()
        except FeishuError as exc:
            return [Check("feishu tenant token", False, str(exc))]
        detail = f"{self.settings.base_url}, mode {self.settings.mode}, bot open_id {open_id or '?'}"
        return [Check("feishu tenant token", True, detail)]

    def health(self) -> list[ConnectionHealth]:
        """The long connection, in websocket mode."""
        return []

    async def command(self, words: Sequence[str], account: str) -> list[Check]:
        """The Feishu adapter has no operator commands."""
        return [Check("feishu", False, "no commands")]
