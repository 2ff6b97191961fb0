"""WeChat Official Account (公众号): verification, the three message modes, the 5-second deadline.

Modules by job: `settings` (the `wechat:` section), `verify` (signatures, replay window), `crypto`
(AES modes), `parse` (safe XML into `Inbound`), `render` (plain text, byte-sized parts, reply XML),
`record` (a message's delivery states and transitions, pure), `ledger` (the records in storage,
each transition one atomic swap), `delivery` (one push: answer now / hold / "still thinking"),
`maker` (the one LLM call, under a lease), `settle` (the durable job that delivers what is left),
`outbox` (customer service and hand-over), `local` (this instance's runs), `produce` (the
pipeline run and the parts), `api` (access token, customer service, media), `routes` (HTTP).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from aiohttp import web

from adapters.wechat import settings as wechat_settings
from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.crypto import Cipher
from adapters.wechat.delivery import Delivery
from adapters.wechat.ledger import Handed, Ledger
from adapters.wechat.local import Local
from adapters.wechat.maker import Maker
from adapters.wechat.outbox import Outbox
from adapters.wechat.produce import Answer, Producer, compose
from adapters.wechat.record import Timing
from adapters.wechat.routes import Endpoint
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.settle import Settler
from bot.errors import StorageUnavailable
from bot.platform import Adapter, Check, Services


def record_ttl(settings: WeChatSettings, job_claim_idle: float) -> float:
    """How long a message's record is kept after its last change: longer than any retry,
    lease take-over or re-run of its job (re-claimed after `job_claim_idle`, up to 5 times)
    can still need it, and at least 15 minutes."""
    return max(900.0, settings.retries_over + 4 * settings.lease + 6 * job_claim_idle)


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
        ledger = Ledger(services.storage, Timing(settings.lease, settings.retries_over),
                        settings.customer_service,
                        record_ttl=record_ttl(settings, services.settings.storage.job_claim_idle),
                        queue_ttl=settings.pending_ttl)
        local = Local()
        outbox = Outbox(settings, ledger, self.api)
        producer = Producer(settings, services, self.api)

        def composer(answer: Answer | None, handed: Handed) -> tuple[str, ...]:
            return compose(answer, handed, settings, outbox.hint)

        maker = Maker(ledger, local, outbox, services.tasks, producer, composer)
        settler = Settler(ledger, local, maker, outbox, services.tasks, services.jobs)
        delivery = Delivery(settings, ledger, local, maker, settler, outbox, services.tasks,
                            producer, composer)
        self._endpoint = Endpoint(settings, cipher, delivery, services.settings.llm.pictures,
                                  media=self.api is not None)

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
