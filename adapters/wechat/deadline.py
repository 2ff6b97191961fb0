"""WeChat's 5-second deadline: answer now, hold the request for a retry, or answer "still thinking".

WeChat delivers a message up to `attempts` times (the original and two retries, ~5 s apart) and
reads a reply only within 5 s. Whichever instance an attempt lands on:

- the first to claim `run:{key}` (one script with the attempt counter) makes the answer in-process
  and records a durable job; the claim is its lease, refreshed while it runs, so the job, on
  whichever instance takes it, only waits for the run here, or takes over once the lease lapsed
  (this instance died);
- a delivery held on the instance making the answer is woken in memory, and if it writes the
  answer to WeChat in time nothing else touches Redis (`local.py`); only otherwise is the answer
  recorded in `answer:{key}` for a retry that may land anywhere;
- every attempt waits for the job's `done:{key}` signal: a non-last attempt up to `hold` (past
  WeChat's 5 s, so WeChat retries if it is still not there), the last one up to `deadline`;
- the last attempt, when still nothing is there, raises `late:{key}` and answers "still thinking";
  the job, finishing later, sees the flag and delivers late (customer service or hand-over).
  Both sides take `deliver:{key}` before a late delivery, so exactly one of them makes it.
- `settled:{key}` is raised once the answer was written to WeChat in time or a late delivery was
  taken on; a job whose answer is never settled (the retries went elsewhere or never came)
  delivers it late itself once WeChat's retries are surely over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from adapters.wechat.local import Local, Run
from adapters.wechat.outbox import Outbox
from adapters.wechat.parse import Inbound
from adapters.wechat.settings import WeChatSettings
from bot.errors import StorageUnavailable
from bot.jobs import JobQueue
from bot.storage import Storage
from bot.tasks import TaskOwner

log = logging.getLogger(__name__)

After = Callable[[bool], Awaitable[None]]
"""Called once the HTTP answer was written (True) or found the connection gone (False)."""


@dataclass(frozen=True, slots=True)
class Served:
    """What a push is answered with: text (None means `success`, i.e. no reply) and a follow-up."""

    text: str | None
    after: After | None = None


Produce = Callable[[Inbound], Coroutine[Any, Any, list[str]]]
JOB = "wechat.answer"


class Deadline:
    """Decides among answer now / hold for the retry / placeholder and deliver later."""

    def __init__(self, settings: WeChatSettings, storage: Storage, tasks: TaskOwner,
                 outbox: Outbox, produce: Produce, jobs: JobQueue | None = None,
                 lease: float = 60.0) -> None:
        self._s = settings
        self._storage = storage
        self._tasks = tasks
        self._outbox = outbox
        self._produce = produce
        self._jobs = jobs
        self._local = Local()
        self._beat: asyncio.Task[None] | None = None
        # `run:{key}` is the lease of the instance making the answer: refreshed while it runs,
        # so a job re-run after a crash takes over once it lapses (never while it is alive).
        self._lease = max(lease, outbox.window)
        if jobs is not None:
            jobs.register(JOB, self._run_job)

    async def answer(self, msg: Inbound, started: float) -> Served:
        """The reply for this attempt of `msg`, waiting at most what this attempt may wait."""
        try:
            return await self._answer(msg, started)
        except StorageUnavailable as exc:
            log.warning("wechat: storage unavailable, answering without retry coordination: %s", exc)
            return await self._alone(msg, started)

    async def _answer(self, msg: Inbound, started: float) -> Served:
        key = msg.key
        attempt, won = await self._storage.incr_claim(
            f"wechat:try:{key}", self._outbox.window, f"wechat:run:{key}", self._lease)
        if won:
            await self._start(msg)
        last = attempt >= self._s.attempts
        limit = self._s.deadline if last else self._s.hold
        remaining = max(0.0, limit - (asyncio.get_running_loop().time() - started))
        run = self._local.get(key)
        if run is not None:  # made here: woken in memory
            parts = await self._local.wait(run, remaining)
        elif await self._storage.wait(f"wechat:done:{key}", remaining):
            parts = await self._outbox.answer(key)
        else:
            parts = None
        if parts is not None:
            return self._serve(msg, parts, last)
        if not last:
            return Served("")  # WeChat stopped listening at 5 s and will retry this MsgId
        return await self._placeholder(msg)

    async def _placeholder(self, msg: Inbound) -> Served:
        key = msg.key
        await self._storage.set(f"wechat:late:{key}", "1", self._s.pending_ttl)
        parts = await self._outbox.answer(key)  # it may have landed just now
        if parts is not None and await self._claim_delivery(key):
            return self._serve(msg, parts, last=True, claimed=True)
        log.info("wechat: answer not ready by the last retry; it will be delivered later")
        return Served(self._s.texts["thinking_push" if self._outbox.hint == "" else "thinking_handover"])

    async def _claim_delivery(self, key: str) -> bool:
        """Take on the late delivery of `key`'s answer; True for the single winner."""
        if not await self._storage.claim(f"wechat:deliver:{key}", self._s.pending_ttl):
            return False
        await self._settled(key, True)
        return True

    async def _settled(self, key: str, received: bool) -> None:
        """Tell the job: in memory when it waits here, else through storage (received only)."""
        if not self._local.settle(key, received) and received:
            await self._storage.notify(f"wechat:settled:{key}", self._outbox.window)

    def _serve(self, msg: Inbound, parts: list[str], last: bool, claimed: bool = False) -> Served:
        if not parts:
            return Served(None)
        first, rest = parts[0], parts[1:]

        async def after(received: bool) -> None:
            if received:
                await self._settled(msg.key, True)
                await self._outbox.after_first(msg.openid, msg.key, rest)
            elif last and (claimed or await self._claim_delivery(msg.key)):
                # nobody will ask again: the answer must reach them another way
                log.info("wechat: the last retry was gone before its answer; delivering later")
                await self._outbox.deliver_late(msg.openid, parts)
            else:  # a retry will come, perhaps elsewhere: the job goes through storage
                await self._settled(msg.key, False)

        return Served(self._outbox.with_hint(first, bool(rest)), after)

    async def _start(self, msg: Inbound) -> None:
        """Make the answer here, and record the work as a durable job: if this instance dies,
        another one finishes it (its handler waits while our lease on `run:{key}` lives)."""
        run = self._local.open(msg.key)
        run.task = self._tasks.spawn(self._job(msg, run), name="wechat-answer")
        if self._jobs is not None:
            try:
                await self._jobs.enqueue(JOB, dataclasses.asdict(msg))
            except StorageUnavailable as exc:
                log.warning("wechat: answering in-process, the job could not be recorded: %s", exc)

    async def _run_job(self, payload: dict[str, Any]) -> None:
        """The durable record: wait for the local run, or take over a run whose lease lapsed."""
        msg = Inbound(**payload)
        run = self._local.get(msg.key)
        if run is not None and run.task is not None:
            await asyncio.shield(run.task)
            return
        await self._tasks.spawn(self._recover(msg), name="wechat-answer")

    async def _recover(self, msg: Inbound) -> None:
        key = msg.key
        for _ in range(1000):  # bounded: each turn waits up to a lease
            parts = await self._outbox.answer(key)
            if parts is not None:
                await self._after_made(msg, parts, None)
                return
            if await self._storage.claim(f"wechat:run:{key}", self._lease):
                run = self._local.open(key)
                run.task = self._tasks.spawn(self._job(msg, run), name="wechat-answer")
                await asyncio.shield(run.task)
                return
            await self._storage.wait(f"wechat:done:{key}", self._lease)

    async def _job(self, msg: Inbound, run: Run) -> None:
        """The one LLM call for this key; a late or never-collected answer goes out later."""
        key = msg.key
        try:
            # No answer record can exist yet: the claim was just won (a re-run looks first).
            parts = await self._make(msg)
            if run.waiting:
                run.settled = asyncio.get_running_loop().create_future()
            run.answer.set_result(parts)
            await self._after_made(msg, parts, run)
        finally:
            if not run.answer.done():
                run.answer.cancel()
            self._local.close(key, run)

    async def _make(self, msg: Inbound) -> list[str]:
        """Produce the answer; the lease on `run:{key}` is kept alive meanwhile (`_beat`)."""
        if self._beat is None or self._beat.done():
            self._beat = self._tasks.spawn(self._keep_leases(), name="wechat-leases")
        return await self._produce(msg)

    async def _keep_leases(self) -> None:
        """Refresh the lease of every answer being made here, while there are any."""
        while self._local.running():
            await asyncio.sleep(self._lease / 3)
            for key in self._local.running():
                try:
                    await self._storage.set(f"wechat:run:{key}", "1", self._lease)
                except StorageUnavailable as exc:
                    log.warning("wechat: could not refresh the lease of %s: %s", key, exc)

    async def _after_made(self, msg: Inbound, parts: list[str], run: Run | None) -> None:
        key = msg.key
        if run is not None and run.settled is not None:
            # A delivery held here takes it: nothing another instance needs unless it fails.
            done, _ = await asyncio.wait((run.settled,), timeout=self._outbox.window)
            if done and run.settled.result():
                return
            run.settled = None
        if run is not None:
            await self._outbox.store_answer(key, parts)
        if not parts:
            return
        if await self._storage.get(f"wechat:late:{key}") is None:
            # Normally a waiting delivery takes the answer at once and settles it.
            if await self._storage.wait(f"wechat:settled:{key}", self._outbox.window):
                return
            log.info("wechat: no delivery of this message collected its answer; delivering later")
        if await self._claim_delivery(key):
            await self._outbox.deliver_late(msg.openid, parts)

    async def _alone(self, msg: Inbound, started: float) -> Served:
        """Storage is down: answer if the model is quick enough, else say so (nothing to keep it in)."""
        task = self._tasks.spawn(self._produce(msg), name="wechat-answer-alone")
        remaining = max(0.0, self._s.deadline - (asyncio.get_running_loop().time() - started))
        done, _ = await asyncio.wait({task}, timeout=remaining)
        if task in done and task.exception() is None:
            parts: list[str] = task.result()
            return Served(parts[0] if parts else None)
        return Served(self._s.texts["unavailable"])
