"""WeChat's 5-second deadline: answer now, hold the request for a retry, or answer "still thinking".

WeChat delivers a message up to `attempts` times (the original and two retries, ~5 s apart) and
reads a reply only within 5 s. Whichever instance an attempt lands on:

- the first to claim `run:{key}` starts the one LLM call (a background job);
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
                 outbox: Outbox, produce: Produce, jobs: JobQueue | None = None) -> None:
        self._s = settings
        self._storage = storage
        self._tasks = tasks
        self._outbox = outbox
        self._produce = produce
        self._jobs = jobs
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
        attempt = await self._storage.incr(f"wechat:try:{key}", self._outbox.window)
        if await self._storage.claim(f"wechat:run:{key}", self._s.pending_ttl):
            await self._start(msg)
        last = attempt >= self._s.attempts
        limit = self._s.deadline if last else self._s.hold
        remaining = max(0.0, limit - (asyncio.get_running_loop().time() - started))
        if await self._storage.wait(f"wechat:done:{key}", remaining):
            parts = await self._outbox.answer(key)
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
        await self._storage.notify(f"wechat:settled:{key}", self._outbox.window)
        return True

    def _serve(self, msg: Inbound, parts: list[str], last: bool, claimed: bool = False) -> Served:
        if not parts:
            return Served(None)
        first, rest = parts[0], parts[1:]

        async def after(received: bool) -> None:
            if received:
                await self._storage.notify(f"wechat:settled:{msg.key}", self._outbox.window)
                await self._outbox.after_first(msg.openid, msg.key, rest)
            elif last and (claimed or await self._claim_delivery(msg.key)):
                # nobody will ask again: the answer must reach them another way
                log.info("wechat: the last retry was gone before its answer; delivering later")
                await self._outbox.deliver_late(msg.openid, parts)

        return Served(self._outbox.with_hint(first, bool(rest)), after)

    async def _start(self, msg: Inbound) -> None:
        """Record the work as a durable job: if this instance dies, another one finishes it."""
        if self._jobs is not None:
            try:
                await self._jobs.enqueue(JOB, dataclasses.asdict(msg))
                return
            except StorageUnavailable as exc:
                log.warning("wechat: answering in-process, the job could not be recorded: %s", exc)
        self._tasks.spawn(self._job(msg), name="wechat-answer")

    async def _run_job(self, payload: dict[str, Any]) -> None:
        # Run under the usual task name so a drain or a test sees the answer being made.
        await self._tasks.spawn(self._job(Inbound(**payload)), name="wechat-answer")

    async def _job(self, msg: Inbound) -> None:
        """The one LLM call for this key; a late or never-collected answer goes out later."""
        key = msg.key
        parts = await self._outbox.answer(key)  # a re-run after a crash may find it made already
        if parts is None:
            parts = await self._produce(msg)
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
