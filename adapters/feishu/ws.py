"""Long-connection mode: lark-oapi's WebSocket client in its own thread, events handed to our loop.

`lark_oapi.ws.Client.start()` blocks forever on a module-level loop captured at import
(protocols.md 2.9 #6), so the thread gives that module a fresh loop of its own. The handler runs
`Inbound.receive` on the service's loop and waits for it (milliseconds: the claim and the job's
record), so the ack lark-oapi sends when it returns comes only once the message is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as ws_client

from adapters.feishu.inbound import Inbound
from adapters.feishu.parse import RECEIVE
from adapters.feishu.settings import FeishuSettings

log = logging.getLogger(__name__)

# lark-oapi's import-time loop: kept referenced, because replacing the module global below would
# otherwise let it be collected unclosed.
_IMPORT_LOOP = ws_client.loop
ACK_WITHIN = 2.5  # seconds; Feishu wants the ack within 3 s


class LongConnection:
    """Receives events over Feishu's WebSocket instead of the HTTP callback."""

    def __init__(self, settings: FeishuSettings, inbound: Inbound) -> None:
        self._settings = settings
        self._inbound = inbound
        self._main: asyncio.AbstractEventLoop | None = None
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def event_handler(self) -> Any:
        """lark-oapi's dispatcher with our receive handler (WS events skip token/signature checks)."""
        return (lark.EventDispatcherHandler.builder("", "")
                .register_p2_customized_event(RECEIVE, self.on_event).build())

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The service's loop, where events are processed."""
        self._main = loop

    def on_event(self, event: Any) -> None:
        """Called on the WebSocket thread: hand the event to the service's loop and wait (briefly)
        until its job is recorded, so the ack lark-oapi sends when this returns means the message
        is safe; raising instead makes Feishu deliver it again."""
        payload = json.loads(lark.JSON.marshal(event))
        main = self._main
        if main is None or main.is_closed():
            raise RuntimeError("feishu: event received before start or after close")
        received = asyncio.run_coroutine_threadsafe(self._inbound.receive(payload), main)
        try:
            accepted = received.result(timeout=ACK_WITHIN)
        except TimeoutError:
            received.cancel()
            raise RuntimeError("feishu: the event could not be recorded in time") from None
        if not accepted:
            raise RuntimeError("feishu: the message is being received by another instance")

    async def start(self) -> None:
        """Start the client thread (daemon: it has no clean stop of its own)."""
        self.bind(asyncio.get_running_loop())
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ws_client.loop = loop  # the module-level loop start() runs on
        self._ws_loop = loop
        client = lark.ws.Client(self._settings.app_id, self._settings.app_secret.reveal(),
                                event_handler=self.event_handler(), domain=self._settings.base_url,
                                log_level=lark.LogLevel.WARNING)
        try:
            client.start()
        except Exception:  # the thread's catch point: a dead connection must be visible in the log
            if not self._stopping:
                log.exception("feishu: long connection stopped")
        finally:
            _shut_down(loop)

    async def close(self) -> None:
        """Stop the client's loop; the thread then ends."""
        self._main = None
        self._stopping = True
        if self._ws_loop is not None and not self._ws_loop.is_closed():
            self._ws_loop.call_soon_threadsafe(self._ws_loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what lark-oapi left on its loop (ping loop, cache cron), then close it."""
    for _ in range(3):  # a stop() queued by close() can interrupt one round
        pending = asyncio.all_tasks(loop)
        if not pending:
            break
        for task in pending:
            task.cancel()
        with contextlib.suppress(RuntimeError):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
