"""The HTTP way in: `/api/chat` (JSON or NDJSON stream) and the OpenAI-compatible relay."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from adapters.webhook import settings as webhook_settings
from adapters.webhook.auth import BearerAuth
from adapters.webhook.chat import ChatEndpoint
from adapters.webhook.page import WebPage
from adapters.webhook.relay import Relay
from adapters.webhook.send import SendEndpoint
from adapters.webhook.settings import WebhookSettings
from bot.platform import Adapter, Check, ConnectionHealth, Services


class WebhookAdapter:
    """Always on; with no `BOT_API_KEYS` its endpoints refuse everyone."""

    name = "webhook"

    def __init__(self, services: Services, settings: WebhookSettings) -> None:
        auth = BearerAuth(settings.keys)
        self._chat = ChatEndpoint(services, settings, auth)
        self._send = SendEndpoint(services, settings, self._chat.authenticate)
        self._relay = Relay(services, settings.relay, auth)
        self._page = WebPage(services.presets, auth)
        self._keys = len(settings.keys)

    def routes(self) -> Sequence[web.RouteDef]:
        """`/api/chat`, `/api/send`, `/v1/chat/completions`, the web chat page, its presets."""
        return [
            web.get("/", self._page.page),
            web.get("/api/presets", self._page.presets),
            web.post("/api/chat", self._chat.handle),
            web.post("/api/send", self._send.handle),
            web.post("/v1/chat/completions", self._relay.handle),
        ]

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def close(self) -> None:
        """Nothing to release."""

    async def check(self) -> list[Check]:
        """Only whether keys exist: the endpoints need no remote service of their own."""
        detail = (f"{self._keys} API key(s) configured" if self._keys
                  else "no BOT_API_KEYS set: /api/chat and /v1/chat/completions refuse everyone")
        return [Check("webhook API keys", True, detail)]

    def health(self) -> list[ConnectionHealth]:
        """No long connection."""
        return []

    async def command(self, words: Sequence[str], account: str) -> list[Check]:
        """The webhook adapter has no operator commands."""
        return [Check("webhook", False, "no commands")]


def create(services: Services) -> Adapter:
    """Factory for `adapters.ENABLED`: its settings come from `api:` and `relay:`."""
    config = services.config
    return WebhookAdapter(services, webhook_settings.read(config.section("api"),
                                                          config.section("relay")))
