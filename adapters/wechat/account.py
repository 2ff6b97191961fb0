"""One official account's parts: its API client, its exactly-once delivery and its endpoint."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from adapters.wechat.api import WeChatAPI, WeChatAPIError
from adapters.wechat.crypto import Cipher
from adapters.wechat.delivery import Delivery
from adapters.wechat.ledger import Handed, Ledger
from adapters.wechat.local import Local
from adapters.wechat.maker import Maker
from adapters.wechat.outbox import Outbox
from adapters.wechat.produce import PLATFORM, Answer, Producer, compose
from adapters.wechat.record import Timing
from adapters.wechat.routes import Endpoint
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.settle import JOB, Settler
from bot.accounts import DEFAULT
from bot.errors import StorageUnavailable
from bot.platform import Check, Services


def record_ttl(settings: WeChatSettings, job_claim_idle: float) -> float:
    """How long a message's record is kept after its last change: longer than any retry,
    lease take-over or re-run of its job (re-claimed after `job_claim_idle`, up to 5 times)
    can still need it, and at least 15 minutes."""
    return max(900.0, settings.retries_over + 4 * settings.lease + 6 * job_claim_idle)


class OfficialAccount:
    """`GET`/`POST` at the account's path and the parts behind it, kept apart per account."""

    def __init__(self, settings: WeChatSettings, services: Services) -> None:
        self.settings = settings
        self.api = (WeChatAPI(services.http, services.storage, settings.api_base, settings.app_id,
                              settings.app_secret.reveal(), settings.stable_token)
                    if settings.has_api else None)
        aes = settings.encoding_aes_key.reveal()
        cipher = Cipher(settings.token, aes, settings.app_id) if aes else None
        ledger = Ledger(services.storage, Timing(settings.lease, settings.retries_over),
                        settings.customer_service,
                        record_ttl=record_ttl(settings, services.settings.storage.job_claim_idle),
                        queue_ttl=settings.pending_ttl, account=settings.account)
        local = Local()
        outbox = Outbox(settings, ledger, self.api)
        producer = Producer(settings, services, self.api)

        def composer(answer: Answer | None, handed: Handed) -> tuple[str, ...]:
            return compose(answer, handed, settings, outbox.hint)

        maker = Maker(ledger, local, outbox, services.tasks, producer, composer)
        job = JOB if settings.account == DEFAULT else f"{JOB}@{settings.account}"
        settler = Settler(ledger, local, maker, outbox, services.tasks, services.jobs, job)
        delivery = Delivery(settings, ledger, local, maker, settler, outbox, services.tasks,
                            producer, composer)
        self.endpoint = Endpoint(settings, cipher, delivery, services.settings.llm.pictures,
                                 media=self.api is not None)
        services.accounts.register(PLATFORM, settings.account, settings.profile)

    def routes(self) -> list[web.RouteDef]:
        """URL verification and pushes at the account's path."""
        path = self.settings.path
        return [web.get(path, self.endpoint.verify), web.post(path, self.endpoint.receive)]

    async def check(self) -> Check:
        """The access token, when an AppID and AppSecret are configured."""
        name = f"wechat access token ({self.settings.account})"
        if self.api is None:
            return Check(name, True, "no app_id/app_secret: passive replies only")
        try:
            await self.api.token()
        except WeChatAPIError as exc:
            return Check(name, False, f"errcode {exc.code}: {exc.meaning}")
        except (aiohttp.ClientError, TimeoutError, StorageUnavailable) as exc:
            return Check(name, False, f"{type(exc).__name__}: {exc}")
        return Check(name, True, f"token fetched from {self.settings.api_base}")
