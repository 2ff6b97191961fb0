"""Long-connection mode: lark-oapi's WebSocket client in a thread per app, events handed to our loop.

lark-oapi's client creates its tasks on a module-level loop captured at import (docs/feishu.md
§8); that global is replaced once by a stand-in that creates them on the calling thread's running
loop, so each app's connection runs on a loop of its own in its own thread. The client's `start()`
reconnects on a fixed interval and cannot tell a silent connection from a quiet one, so the thread
runs our supervisor instead, on the client's own connect, frame and ping parts: a ping every
interval, a connection silent past `ping_timeout` is dropped, and reconnects back off
exponentially with jitter (`health.backoff`). The handler runs `Inbound.receive` on the service's
loop and waits for it (milliseconds: the claim and the job's record), so the ack lark-oapi sends
when it returns comes only once the message is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as ws_client

from adapters.feishu.health import Watch, backoff
from adapters.feishu.inbound import Inbound
from adapters.feishu.parse import RECEIVE
from adapters.feishu.settings import FeishuSettings
from bot.platform import ConnectionHealth

log = logging.getLogger(__name__)

ACK_WITHIN = 2.5  # seconds; Feishu wants the ack within 3 s


class _CallersLoop:
    """Stands in for lark-oapi's module-level loop, of which the parts used here only call
    `create_task`: the task goes to the loop running in the calling thread (each connection's)."""

    @staticmethod
    def create_task(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Schedule `coro` on the running loop of this thread."""
        return asyncio.get_running_loop().create_task(coro)


# lark-oapi's import-time loop: kept referenced, because replacing the module global would
# otherwise let it be collected unclosed.
_IMPORT_LOOP = ws_client.loop
ws_client.loop = _CallersLoop()


class LongConnection:
    """Receives events over Feishu's WebSocket instead of the HTTP callback."""

    def __init__(self, settings: FeishuSettings, inbound: Inbound,
                 rand: Callable[[], float] = random.random) -> None:
        self._settings = settings
        self._inbound = inbound
        self._rand = rand
        self.watch = Watch(f"feishu/{settings.account}")
        self._main: asyncio.AbstractEventLoop | None = None
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def health(self) -> ConnectionHealth:
        """The connection's state and the age of its last event."""
        return self.watch.health()

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
        self.watch.event()
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
        """Start the client thread (daemon: lark-oapi's discovery call blocks, uncancellable)."""
        self.bind(asyncio.get_running_loop())
        self.watch.set("connecting")
        self._thread = threading.Thread(target=self._run, name=f"feishu-ws-{self._settings.account}",
                                        daemon=True)
        self._thread.start()

    def _client(self) -> Any:
        client = lark.ws.Client(self._settings.app_id, self._settings.app_secret.reveal(),
                                event_handler=self.event_handler(), domain=self._settings.base_url,
                                log_level=lark.LogLevel.WARNING, auto_reconnect=False)
        handle = client._handle_message

        async def counted(message: bytes) -> None:  # every frame proves the server is there
            self.watch.frame()
            await handle(message)

        client._handle_message = counted
        return client

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # the client's cache schedules its cron on it
        loop.set_exception_handler(_quiet)
        self._ws_loop = loop
        self._task = loop.create_task(self._supervise(self._client()))
        try:
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:  # the thread's catch point: a dead connection must be visible in the log
            log.exception("feishu: long connection supervisor stopped")
        finally:
            self.watch.set("stopped")
            _shut_down(loop)

    async def _supervise(self, client: Any) -> None:
        """Connect, watch, and reconnect with backoff, until closed."""
        attempt = 0
        while not self._stopping:
            try:
                await asyncio.wait_for(client._connect(), timeout=max(self._settings.ping_timeout, 5))
            except Exception as exc:  # lark-oapi raises its own and websockets' errors
                log.warning("feishu: long connection %s failed to connect: %s",
                            self._settings.account, type(exc).__name__)
            else:
                self.watch.opened()
                why = await self._watch(client)
                if self.watch.state == "connected":
                    attempt = 0  # it worked for a while: the first retry comes quickly
                log.warning("feishu: long connection %s %s; reconnecting", self._settings.account,
                            why)
                with contextlib.suppress(Exception):
                    await client._disconnect()
            self.watch.set("reconnecting")
            await asyncio.sleep(backoff(attempt, self._settings.reconnect_base,
                                        self._settings.reconnect_max, self._rand))
            attempt += 1

    async def _watch(self, client: Any) -> str:
        """Ping on the server's interval; return why the connection is dead ("closed" or
        "silent": nothing, not even a pong, for `ping_timeout`)."""
        conn, timeout = client._conn, self._settings.ping_timeout
        every = min(float(client._ping_interval or 120), timeout / 2)
        pinged = float("-inf")
        while True:
            if client._conn is not conn or conn is None:
                return "closed"
            if self.watch.silent_for() > timeout:
                return "went silent"
            if time.monotonic() - pinged >= every:
                pinged = time.monotonic()
                with contextlib.suppress(Exception):  # a failed write shows as closed or silent
                    await client._write_message(
                        ws_client._new_ping_frame(int(client._service_id)).SerializeToString())
            await asyncio.sleep(min(every, timeout) / 4)

    async def close(self) -> None:
        """Stop the supervisor; the thread then ends."""
        self._main = None
        self._stopping = True
        loop, task = self._ws_loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2.0)


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """lark-oapi's receive task ends with the connection's error, which the supervisor handles."""
    log.debug("feishu long connection: %s", context.get("message"))


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what lark-oapi left on its loop (receive loop, cache cron), then close it."""
    for _ in range(3):  # a stop() queued by close() can interrupt one round
        pending = asyncio.all_tasks(loop)
        if not pending:
            break
        for task in pending:
            task.cancel()
        with contextlib.suppress(RuntimeError):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
