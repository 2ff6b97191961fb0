"""Where the records live, and each transition of `record.py` applied atomically to them.

Keys share one Redis Cluster hash tag per subscriber, `{account/openid}` (the official account's
original id; `{id/account/openid}` for an account listed in `wechat.accounts`), so a transition that
touches a message's record and the subscriber's hand-over or continuation queue is one
compare-and-swap:
- `wechat:{tag}:msg:{MsgId}`: the message's record (`record.Record`);
- `wechat:{tag}:handover`: answers the subscriber never got, for their next message;
- `wechat:{tag}:more`: the rest of a long answer, taken part by part with 继续 / more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from adapters.wechat import record as r
from adapters.wechat.parse import Inbound
from adapters.wechat.record import Record, Take, Timing
from bot.accounts import DEFAULT
from bot.errors import StorageUnavailable
from bot.storage import Doc, Storage
from bot.storage.docs import update

log = logging.getLogger(__name__)

T = TypeVar("T")
Handed = list[dict[str, Any]]  # [{"key": MsgId, "parts": [...]}] in the hand-over document
Compose = Callable[[Handed], tuple[str, ...]]
"""The answer's parts, given what was handed over for this subscriber (put in front of it)."""


def tag(msg: Inbound) -> str:
    """The subscriber's hash tag (braces cannot occur inside it)."""
    return f"{msg.account}/{msg.openid}".replace("{", "(").replace("}", ")")


def _record(doc: Doc) -> Record | None:
    return None if doc.value is None else Record.from_json(doc.value)


def _list(doc: Doc) -> list[Any]:
    return [] if doc.value is None else list(json.loads(doc.value))


def _dump(items: Sequence[Any]) -> str | None:
    return json.dumps(list(items), ensure_ascii=False) if items else None


class Ledger:
    """The transitions, applied to storage; each retries briefly while storage is unreachable."""

    def __init__(self, storage: Storage, timing: Timing, customer_service: bool,
                 record_ttl: float, queue_ttl: float, patience: float = 5.0,
                 clock: Callable[[], float] = time.time, account: str = DEFAULT) -> None:
        self._storage = storage
        self.timing = timing
        self._cs = customer_service
        self._ttls = (record_ttl, queue_ttl)
        self._patience = patience
        self.clock = clock
        self._scope = "" if account == DEFAULT else f"{account}/"  # ids cannot hold braces

    def _keys(self, msg: Inbound, *queues: str) -> list[str]:
        base = f"wechat:{{{self._scope}{tag(msg)}}}"
        return [f"{base}:msg:{msg.key}", *(f"{base}:{queue}" for queue in queues)]

    def _guess(self, msg: Inbound, record: Doc | None, *queues: str) -> list[Doc] | None:
        """The documents of a transition without reading them: the record as the caller last saw
        it, the subscriber's queues most likely absent. A wrong guess costs the swap one more round
        trip (it fails and answers what is there: `bot.storage.docs.update`), never a wrong write."""
        if record is None:
            return None
        return [record, *(Doc(key, "", None) for key in self._keys(msg, *queues)[1:])]

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], patience: float) -> T:
        """`attempt`, retried with backoff for up to `patience` seconds while storage is down."""
        end = asyncio.get_running_loop().time() + patience
        delay = 0.05
        while True:
            try:
                return await attempt()
            except StorageUnavailable:
                if asyncio.get_running_loop().time() + delay > end:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    async def _apply(self, msg: Inbound, step: Callable[[Record | None], tuple[Record | None, T]],
                     known: Doc | None = None, patience: float | None = None) -> tuple[T, Doc]:
        """One transition of the message's record alone."""
        def change(docs: Sequence[Doc]) -> tuple[Sequence[str | None] | None, T]:
            new, result = step(_record(docs[0]))
            return (None if new is None else [new.to_json()]), result

        async def attempt() -> tuple[T, list[Doc]]:
            return await update(self._storage, self._keys(msg), change, self._ttls[:1],
                                None if known is None else [known])

        result, docs = await self._retrying(attempt, self._patience if patience is None else patience)
        return result, docs[0]

    async def read(self, msg: Inbound) -> tuple[Record | None, Doc]:
        """The record as it is now."""
        doc = (await self._retrying(lambda: self._storage.read_docs(self._keys(msg)),
                                    self._patience))[0]
        return _record(doc), doc

    async def wait_change(self, msg: Inbound, doc: Doc, seconds: float) -> tuple[Record | None, Doc]:
        """The record once it changed from `doc`, or after `seconds`."""
        new = await self._storage.wait_change(doc.key, doc.etag, max(0.0, seconds))
        return _record(new), new

    async def arrive(self, msg: Inbound, token: str, patience: float) -> tuple[Record, Doc, r.Arrival]:
        """Count a delivery; the arrival says whether this one makes the answer. The record is
        first guessed absent (most deliveries are a message's first): no read before the swap."""
        def step(rec: Record | None) -> tuple[Record | None, tuple[Record, r.Arrival]]:
            new, arrival = r.arrive(rec, self.clock(), token, self.timing)
            return new, (new, arrival)

        absent = Doc(self._keys(msg)[0], "", None)
        (rec, arrival), doc = await self._apply(msg, step, absent, patience=patience)
        return rec, doc, arrival

    async def renew(self, msg: Inbound, token: str) -> bool:
        """Refresh `token`'s lease; False when it was lost (another instance took over)."""
        def step(rec: Record | None) -> tuple[Record | None, bool]:
            new = r.renew(rec, self.clock(), token, self.timing)
            return new, new is not None

        return (await self._apply(msg, step))[0]

    async def claim(self, msg: Inbound, token: str,
                    kind: Literal["take_over", "deliver_late", "send_rest"]) -> Record | None:
        """Take a lease for the settling job (`record.plan`'s steps); None when not allowed."""
        claim = {"take_over": r.take_over, "deliver_late": r.claim_late,
                 "send_rest": r.claim_rest}[kind]

        def step(rec: Record | None) -> tuple[Record | None, Record | None]:
            new = claim(rec, self.clock(), token, self.timing)
            return new, new

        return (await self._apply(msg, step))[0]

    async def made(self, msg: Inbound, token: str, compose: Compose, known: Doc | None = None,
                   take: bool = False) -> tuple[Record | None, Doc | None]:
        """Store the answer, taking over what was handed over for this subscriber (one swap);
        `known`: the record as the maker last saw it (then nothing is read first). With `take`,
        a delivery held here takes the answer in the same swap (`record.take`) when it is `made`:
        the record comes back `made` with `taking` counting it."""
        def change(docs: Sequence[Doc]) -> tuple[Sequence[str | None] | None, Record | None]:
            handed = _list(docs[1])
            now = self.clock()
            new = r.made(_record(docs[0]), now, token, compose(handed), self.timing)
            if new is None:
                return None, None
            if take and new.state == "made":
                new = r.take(new, now, False, self.timing)[0] or new
            keep = handed if not new.parts else []  # an empty answer leaves the hand-over be
            return [new.to_json(), _dump(keep)], new

        async def attempt() -> tuple[Record | None, list[Doc]]:
            return await update(self._storage, self._keys(msg, "handover"), change, self._ttls,
                                self._guess(msg, known, "handover"))

        rec, docs = await self._retrying(attempt, self._patience)
        return rec, (docs[0] if rec is not None else None)

    async def take(self, msg: Inbound, last: bool, known: Doc | None = None,
                   patience: float | None = None) -> tuple[Take, Doc]:
        """The answer for this delivery now (see `record.take`), and the record after it."""
        def step(rec: Record | None) -> tuple[Record | None, Take]:
            return r.take(rec, self.clock(), last, self.timing)

        return await self._apply(msg, step, known, patience)

    async def written(self, msg: Inbound, ok: bool, last: bool,
                      known: Doc | None = None) -> tuple[Record | None, Doc]:
        """After the write: served (queueing the rest for 继续 in the same swap) or not;
        `known`: the record as `take` left it (then nothing is read first). Returns the record
        as it is after it (None: nothing changed) and its document as storage answered it."""
        def change(docs: Sequence[Doc]) -> tuple[Sequence[str | None] | None, Record | None]:
            old = _record(docs[0])
            new = r.written(old, ok, last, self._cs)
            if old is None or new is None:
                return None, None
            first_served = old.state == "made" and new.rest == "queued"
            more = _dump(new.parts[1:]) if first_served else docs[1].value
            return [new.to_json(), more], new

        async def attempt() -> tuple[Record | None, list[Doc]]:
            return await update(self._storage, self._keys(msg, "more"), change, self._ttls,
                                self._guess(msg, known, "more"))

        rec, docs = await self._retrying(attempt, self._patience)
        return rec, docs[0]

    async def late_done(self, msg: Inbound, token: str) -> bool:
        """The late answer went out through customer service."""
        def step(rec: Record | None) -> tuple[Record | None, bool]:
            new = r.late_done(rec, token, "pushed")
            return new, new is not None

        return (await self._apply(msg, step))[0]

    async def rest_done(self, msg: Inbound, token: str) -> bool:
        """The rest of a served answer went out through customer service."""
        def step(rec: Record | None) -> tuple[Record | None, bool]:
            new = r.rest_done(rec, token, "sent")
            return new, new is not None

        return (await self._apply(msg, step))[0]

    async def hand_over(self, msg: Inbound, token: str, parts: Sequence[str], rest: bool) -> bool:
        """Keep `parts` for the subscriber's next message and end the late delivery (or the rest's
        sending), in one swap: a hand-over is never lost or made twice."""
        def change(docs: Sequence[Doc]) -> tuple[Sequence[str | None] | None, bool]:
            rec = _record(docs[0])
            new = r.rest_done(rec, token, "handed") if rest else r.late_done(rec, token, "handed")
            if new is None:
                return None, False
            handed = [item for item in _list(docs[1]) if item.get("key") != msg.key]
            return [new.to_json(), _dump([*handed, {"key": msg.key, "parts": list(parts)}])], True

        async def attempt() -> tuple[bool, list[Doc]]:
            return await update(self._storage, self._keys(msg, "handover"), change, self._ttls)

        return (await self._retrying(attempt, self._patience))[0]

    async def next_more(self, msg: Inbound) -> tuple[str, str] | None:
        """Take the next queued part of a long answer: (part, the part queued after it or "")."""
        def change(docs: Sequence[Doc]) -> tuple[Sequence[str | None] | None, tuple[str, str] | None]:
            queued = _list(docs[0])
            if not queued:
                return None, None
            return [_dump(queued[1:])], (str(queued[0]), str(queued[1]) if len(queued) > 1 else "")

        key = self._keys(msg, "more")[1]
        return (await update(self._storage, [key], change, self._ttls[1:]))[0]

    async def put_back_more(self, msg: Inbound, part: str) -> None:
        """A part taken for 继续 did not reach WeChat: queue it in front again."""
        def change(docs: Sequence[Doc]) -> tuple[Sequence[str | None] | None, None]:
            return [_dump([part, *_list(docs[0])])], None

        await update(self._storage, self._keys(msg, "more")[1:], change, self._ttls[1:])
