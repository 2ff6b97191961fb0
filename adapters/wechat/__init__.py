"""WeChat Official Account (公众号): verification, the three message modes, the 5-second deadline.

Modules by job: `settings` (the `wechat:` section), `verify` (signatures, replay window), `crypto`
(AES modes), `parse` (safe XML into `Inbound`), `render` (plain text, byte-sized parts, reply XML),
`deadline` (answer now / hold / deliver later), `outbox` (undelivered answers), `produce` (the
pipeline run), `api` (access token, customer service, media), `routes` (the HTTP endpoints).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from aiohttp import web

from adapters.wechat import settings as wechat_settings
from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.crypto import Cipher
from adapters.wechat.deadline import Deadline
from adapters.wechat.outbox import Outbox
from adapters.wechat.produce import Producer
from adapters.wechat.routes import Endpoint
from adapters.wechat.settings import WeChatSettings
from bot.errors import StorageUnavailable
from bot.platform import Adapter, Check, Services


class WeChatAdapter:
    """The `/wechat` endpoint and the parts behind it."""

    name = "wechat"

    def __init__(self, settings: WeChatSettings, services: Services) -> None:
        self._s = settings
        self.api = (WeChatAPI(services.http, services.storage, settings.api_base, settings.app_id,
                              settings.app_secret.reveal(), settings.stable_token)
                    if settings.has_api else None)
        aes = settings.encoding_aes_key.reveal()
        cipher = Cipher(settings.token, aes, settings.app_id) if aes else None
        outbox = Outbox(settings, services.storage, services.tasks, self.api)
        producer = Producer(settings, services, outbox, self.api)
        deadline = Deadline(settings, services.storage, services.tasks, outbox, producer,
                            services.jobs, lease=services.settings.storage.job_claim_idle)
        self._endpoint = Endpoint(settings, cipher, deadline, outbox, services.tasks,
                                  services.settings.llm.vision, media=self.api is not None)

    def routes(self) -> Sequence[web.RouteDef]:
        """`GET /wechat` and `POST /wechat`."""
        return [web.get("/wechat", self._endpoint.verify), web.post("/wechat", self._endpoint.receive)]

    async def start(self) -> None:
        """Nothing runs in the background until a message arrives."""

    async def close(self) -> None:
        """Late deliveries are background tasks, drained by the core."""

    async def check(self) -> list[Check]:
        """The access token, when an AppID and AppSecret are configured."""
        if self.api is None:
            return [Check("wechat access token", True,
                          "no WECHAT_APP_ID/WECHAT_APP_SECRET: passive replies only")]
        try:
            await self.api.token()
        except WeChatAPIError as exc:
            return [Check("wechat access token", False, f"errcode {exc.code}: {exc.meaning}")]
        except (aiohttp.ClientError, TimeoutError, StorageUnavailable) as exc:
            return [Check("wechat access token", False, f"{type(exc).__name__}: {exc}")]
        return [Check("wechat access token", True, f"token fetched from {self._s.api_base}")]


def create(services: Services) -> Adapter | None:
    """Factory for `adapters.ENABLED`: None when WECHAT_TOKEN (wechat.token) is not set."""
    settings = wechat_settings.read(services.settings.section.section("wechat"))
    return None if settings is None else WeChatAdapter(settings, services)
