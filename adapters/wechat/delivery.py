"""One delivery of a WeChat push: answer now, hold for a retry, or say "still thinking".

WeChat reads a reply within 5 s (`listens`) and otherwise delivers the same MsgId again (up to `attempts`
times in all). Each delivery, on whichever instance it lands, counts itself on the message's
record (`record.arrive`); the first one starts the answer here and records the settling job.
It then waits for the answer — in memory when it is made here, else for the record to change —
up to `hold` (past WeChat's 5 s, so WeChat retries) or, on the last attempt, `deadline`; then
takes what the record holds (`record.take`): the answer, or on the last attempt "still
thinking", after which the answer goes out late exactly once (`settle.py`, `outbox.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.wechat.ledger import Ledger
from adapters.wechat.local import Local, Run, Taker
from adapters.wechat.maker import Compose, Maker, Produce, new_token
from adapters.wechat.outbox import Outbox
from adapters.wechat.parse import Inbound
from adapters.wechat.record import Record, Take
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.settle import Settler
from bot.errors import StorageUnavailable
from bot.storage import Doc
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

ARRIVE_PATIENCE = 2.0  # seconds to wait for storage on arrival before answering alone
STORAGE_POLL = 0.2  # seconds between tries of a wait while storage is unreachable

After = Callable[[bool], Awaitable[None]]
"""Called once the HTTP answer was written (True) or found the connection gone (False)."""


@dataclass(frozen=True, slots=True)
class Served:
    """What a push is answered with: text (None means `success`, i.e. no reply) and a follow-up."""

    text: str | None
    after: After | None = None


class Delivery:
    """Answers one delivery of a message, whatever instance made or makes its answer."""

    def __init__(self, settings: WeChatSettings, ledger: Ledger, local: Local, maker: Maker,
                 settler: Settler, outbox: Outbox, tasks: TaskOwner, produce: Produce,
                 compose: Compose) -> None:
        self._s = settings
        self._ledger = ledger
        self._local = local
        self._maker = maker
        self._settler = settler
        self._outbox = outbox
        self._tasks = tasks
        self._produce = produce
        self._compose = compose

    async def answer(self, msg: Inbound, started: float) -> Served:
        """The reply for this attempt of `msg`, waiting at most what this attempt may wait."""
        elapsed = _since(started)
        try:
            rec, doc, arrival = await self._ledger.arrive(
                msg, new_token(), patience=min(ARRIVE_PATIENCE, self._s.deadline - elapsed()))
        except StorageUnavailable as exc:
            log.warning("wechat: storage unavailable, answering without retry coordination: %s", exc)
            return await self._alone(msg, started)
        if arrival.make:
            self._maker.start(msg, rec.owner, doc)
            await self._settler.record(msg)
        last = arrival.attempt >= self._s.attempts
        limit = self._s.deadline if last else self._s.hold
        held, doc, took = await self._until_made(msg, rec, doc, limit - elapsed(),
                                                 Taker(last, started + self._s.listens))
        if elapsed() >= self._s.listens:
            if took is not None:  # taken for this delivery in the maker's swap, too late to write
                await self._maker.give_back(took, last, doc)
            return Served("")  # WeChat stopped listening: nothing to take, a retry comes
        if took is not None and held is not None:  # the maker's swap took it for this delivery
            taken = Take("answer", held.parts)
        else:
            taken, doc = await self._ledger.take(msg, last, known=doc,
                                                 patience=max(0.0, self._s.listens - elapsed()))
        if taken.kind == "wait":  # not made yet, and WeChat retries: let it stop listening first
            await asyncio.sleep(max(0.0, self._s.hold - elapsed()))
            return Served("")
        if taken.kind == "nothing":
            return Served(None)
        if taken.kind == "placeholder":
            log.info("wechat: answer not ready by the last retry; it will be delivered later")
            return Served(self._s.texts.get("wechat_thinking_push" if self._outbox.hint == ""
                                            else "wechat_thinking_handover"))
        return self._answered(msg, taken.parts, last, doc, took)

    def _answered(self, msg: Inbound, parts: tuple[str, ...], last: bool, taken: Doc,
                  took: Run | None) -> Served:
        """The answer's first part, recording after the write whether it reached WeChat (and
        telling the settling job here, when the maker's swap took it: `took`)."""
        first, following = parts[0], (parts[1] if len(parts) > 1 else "")

        async def after(received: bool) -> None:
            now = None
            try:
                now = (await self._ledger.written(msg, received, last, taken))[1]
            except StorageUnavailable as exc:  # the settling job still delivers it late
                log.warning("wechat: could not record the passive reply's outcome: %s", exc)
            finally:
                if took is not None:
                    self._local.wrote(took, now)

        return Served(self._outbox.with_hint(first, following), after)

    async def _until_made(self, msg: Inbound, rec: Record | None, doc: Doc, seconds: float,
                          taker: Taker) -> tuple[Record | None, Doc, Run | None]:
        """Wait while the answer is being made: in memory when it is made here, where the first
        delivery held has it taken for it by the maker's swap (then that run: `take` done)."""
        end = asyncio.get_running_loop().time() + seconds
        while rec is not None and rec.state == "making":
            remaining = end - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            run = self._local.get(msg.key)
            if run is None:
                try:
                    rec, doc = await self._ledger.wait_change(msg, doc, remaining)
                except StorageUnavailable:  # keep waiting; `take` below says what is there
                    await asyncio.sleep(min(remaining, STORAGE_POLL))
                continue
            if run.taker is None:
                run.taker = taker
            made = await self._local.wait(run, remaining)
            if made is None:  # no answer from this run (yet): read what the record says
                taker.gone = True  # from now on the maker takes nothing for this delivery
                rec, doc = await self._ledger.read(msg)
            else:
                doc = made
                rec = None if made.value is None else Record.from_json(made.value)
                if run.written is not None and run.taker is taker and not taker.gone:  # (gone: given back)
                    return rec, doc, run
        return rec, doc, None

    async def more(self, msg: Inbound) -> Served | None:
        """The next queued part of a long answer (继续 / more), or None when none is queued."""
        taken = await self._ledger.next_more(msg)
        if taken is None:
            return None
        part, following = taken

        async def after(received: bool) -> None:
            if not received:  # put the part back in front for the next 继续
                try:
                    await self._ledger.put_back_more(msg, part)
                except StorageUnavailable as exc:
                    log.warning("wechat: a continuation part could not be put back: %s", exc)

        return Served(self._outbox.with_hint(part, following), after)

    async def _alone(self, msg: Inbound, started: float) -> Served:
        """Storage is down: answer if the model is quick enough, else say so (nothing to keep it in)."""
        task = self._tasks.spawn(self._produce(msg), name="wechat-answer-alone")
        remaining = max(0.0, self._s.deadline - _since(started)())
        done, _ = await asyncio.wait({task}, timeout=remaining)
        if task in done and task.exception() is None:
            parts = self._compose(task.result(), [])
            return Served(parts[0] if parts else None)
        return Served(self._s.texts.get("wechat_unavailable"))


def _since(started: float) -> Callable[[], float]:
    loop = asyncio.get_running_loop()
    return lambda: loop.time() - started
