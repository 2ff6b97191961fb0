"""The delivery record of one WeChat message: its states and transitions, as pure functions.

WeChat delivers a message up to three times (same MsgId) and any instance may get any of them.
One record per message, in shared storage, says where its answer is; every change is one of the
transitions below, applied atomically by `ledger.py` (compare-and-swap on the record's etag), so
two instances can never both act on the same state. Times are wall-clock seconds (`now`), passed
in: the tests drive every transition and race on a fake clock.

    state     meaning                                        who holds the lease (owner)
    making    the answer is being made                       the maker
    made      made, no delivery has written it yet           nobody
    served    a delivery wrote it to WeChat in time          the rest's sender, while one runs
    late      it goes out late (customer service/hand-over)  the late deliverer
    pushed    sent late through the customer-service API     nobody (final)
    handed    kept for the subscriber's next message         nobody (final)

The rules (docs/wechat.md has the table of transitions):
- every delivery of a MsgId whose answer is made gets that answer, as long as no late delivery
  has taken it (a write that returned is not proof WeChat got it: a retry gets it again);
- an answer goes out late only when no delivery wrote it, and only through the single owner of
  the `late` state; a lease that lapsed (its owner died) can be taken over, fenced by the token;
- a maker that lost its lease (another instance took over after it stalled) can change nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import orjson

State = Literal["making", "made", "served", "late", "pushed", "handed"]
Rest = Literal["", "due", "sending", "sent", "queued", "handed"]
FINAL: frozenset[str] = frozenset({"pushed", "handed"})


@dataclass(frozen=True, slots=True)
class Timing:
    """The timers the transitions need (seconds)."""

    lease: float  # a maker or late deliverer not heard from this long is presumed dead
    retries_over: float  # after first_at + this, WeChat delivers the MsgId no more
    write_grace: float = 5.0  # a delivery that took the answer has written it by then


@dataclass(frozen=True, slots=True)
class Record:
    """What every instance knows about one message."""

    state: State
    tries: int  # deliveries seen so far
    first_at: float
    retries_end: float  # WeChat will not deliver this MsgId after this
    owner: str = ""  # the lease holder's token (see the module table)
    lease_until: float = 0.0
    makers: int = 1  # times the making lease was taken (> 1 after a take-over)
    parts: tuple[str, ...] = ()  # the answer, once made
    late: bool = False  # nobody will ask again: deliver late as soon as it is made
    taking: int = 0  # deliveries writing the answer right now ...
    taken_until: float = 0.0  # ... for at most this long
    rest: Rest = ""  # the parts after the first, once the first was served

    def to_json(self) -> str:
        """The stored form (orjson: every transition writes one; compact UTF-8 JSON as before)."""
        return orjson.dumps(self).decode()

    @classmethod
    def from_json(cls, raw: str) -> Record:
        """Read the stored form."""
        data = orjson.loads(raw)
        data["parts"] = tuple(data.get("parts") or ())
        return cls(**data)

    def leased(self, now: float) -> bool:
        """Whether the lease holder is alive (renewing)."""
        return bool(self.owner) and self.lease_until > now

    def writing(self, now: float) -> bool:
        """Whether a delivery may still be writing the answer."""
        return self.taking > 0 and self.taken_until > now


@dataclass(frozen=True, slots=True)
class Arrival:
    """What a delivery learns on arrival: its attempt number and whether it makes the answer."""

    attempt: int
    make: bool


def arrive(rec: Record | None, now: float, token: str, t: Timing) -> tuple[Record, Arrival]:
    """A delivery came: count it; the first (or the first after a lapsed maker) makes the answer."""
    if rec is None:
        new = Record("making", 1, now, now + t.retries_over, owner=token, lease_until=now + t.lease)
        return new, Arrival(1, True)
    if rec.state == "making" and rec.owner == token:
        # this delivery's own arrival, retried after a write that landed although it was
        # reported as failed (not yet on a replica, say): it still makes the answer
        return rec, Arrival(rec.tries, True)
    counted = dataclasses.replace(rec, tries=rec.tries + 1)
    if rec.state == "making" and not rec.leased(now):
        return _take_over(counted, now, token, t), Arrival(counted.tries, True)
    return counted, Arrival(counted.tries, False)


def _take_over(rec: Record, now: float, token: str, t: Timing) -> Record:
    return dataclasses.replace(rec, owner=token, lease_until=now + t.lease, makers=rec.makers + 1)


def take_over(rec: Record | None, now: float, token: str, t: Timing) -> Record | None:
    """A re-run (after a crash) takes the making lease once it lapsed; None if it is alive."""
    if rec is None or rec.state != "making" or rec.leased(now):
        return None
    return _take_over(rec, now, token, t)


def renew(rec: Record | None, now: float, token: str, t: Timing) -> Record | None:
    """The lease holder is alive; None when `token` does not hold the lease any more."""
    if rec is None or rec.owner != token or rec.state not in ("making", "late", "served"):
        return None
    return dataclasses.replace(rec, lease_until=now + t.lease)


def made(rec: Record | None, now: float, token: str, parts: tuple[str, ...],
         t: Timing) -> Record | None:
    """The maker has the answer; None when it lost its lease (its answer is dropped)."""
    if rec is None or rec.state != "making" or rec.owner != token:
        return None
    if not parts:  # nothing to say (a blocked user): nothing to deliver either
        return dataclasses.replace(rec, state="served", owner="", lease_until=0.0)
    if rec.late:  # the last delivery said "still thinking": the maker delivers it late
        return dataclasses.replace(rec, state="late", parts=parts, lease_until=now + t.lease)
    return dataclasses.replace(rec, state="made", parts=parts, owner="", lease_until=0.0)


@dataclass(frozen=True, slots=True)
class Take:
    """What a delivery answers: the answer, nothing yet (`wait`), a placeholder or no reply."""

    kind: Literal["answer", "wait", "placeholder", "nothing"]
    parts: tuple[str, ...] = ()


def take(rec: Record | None, now: float, last: bool, t: Timing) -> tuple[Record | None, Take]:
    """A delivery wants the answer now. The last one, finding none, says "still thinking"."""
    if rec is None or rec.state in FINAL or rec.state == "late":
        return None, Take("nothing")  # it went (or goes) out late: never twice
    if rec.state == "making":
        if not last:
            return None, Take("wait")
        return dataclasses.replace(rec, late=True), Take("placeholder")
    if not rec.parts:
        return None, Take("nothing")
    taken = dataclasses.replace(rec, taking=rec.taking + 1,
                                taken_until=max(rec.taken_until, now + t.write_grace))
    return taken, Take("answer", rec.parts)


def written(rec: Record | None, ok: bool, last: bool, customer_service: bool) -> Record | None:
    """A delivery that took the answer wrote it (ok) or found WeChat gone; None: no change."""
    if rec is None or rec.state not in ("made", "served"):
        return None
    done = dataclasses.replace(rec, taking=max(0, rec.taking - 1))
    if ok and rec.state == "made":
        rest: Rest = "" if len(rec.parts) < 2 else ("due" if customer_service else "queued")
        return dataclasses.replace(done, state="served", rest=rest)
    if not ok and rec.state == "made" and last:
        return dataclasses.replace(done, late=True)  # nobody will ask again
    return done


def claim_late(rec: Record | None, now: float, token: str, t: Timing) -> Record | None:
    """Take on the late delivery: only of an answer no delivery wrote, once retries are over
    (or the last one gave up), or from a late deliverer that died. None when not allowed."""
    if rec is None:
        return None
    if rec.state == "late" and not rec.leased(now):
        return dataclasses.replace(rec, owner=token, lease_until=now + t.lease)
    if rec.state != "made" or rec.writing(now) or not (rec.late or now >= rec.retries_end):
        return None
    return dataclasses.replace(rec, state="late", owner=token, lease_until=now + t.lease)


def late_done(rec: Record | None, token: str, how: Literal["pushed", "handed"]) -> Record | None:
    """The late delivery went out (`how`); None when `token` no longer owns it."""
    if rec is None or rec.state != "late" or rec.owner != token:
        return None
    return dataclasses.replace(rec, state=how, owner="", lease_until=0.0)


def claim_rest(rec: Record | None, now: float, token: str, t: Timing) -> Record | None:
    """Take on pushing the parts after the first (customer service); None when not allowed."""
    if rec is None or rec.state != "served":
        return None
    if rec.rest == "due" or (rec.rest == "sending" and not rec.leased(now)):
        return dataclasses.replace(rec, rest="sending", owner=token, lease_until=now + t.lease)
    return None


def rest_done(rec: Record | None, token: str, how: Literal["sent", "handed"]) -> Record | None:
    """The rest went out (`how`); None when `token` no longer owns it."""
    if rec is None or rec.state != "served" or rec.rest != "sending" or rec.owner != token:
        return None
    return dataclasses.replace(rec, rest=how, owner="", lease_until=0.0)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the settling job does next with a record, and until when it may wait."""

    kind: Literal["done", "wait", "take_over", "deliver_late", "send_rest"]
    until: float = 0.0


def plan(rec: Record | None, now: float) -> Plan:
    """The settling job's next step: it ends only when nothing is left to deliver."""
    if rec is None or rec.state in FINAL:
        return Plan("done")
    if rec.state == "making":
        return Plan("wait", rec.lease_until) if rec.leased(now) else Plan("take_over")
    if rec.state == "made":
        if rec.writing(now):
            return Plan("wait", rec.taken_until)
        if rec.late or now >= rec.retries_end:
            return Plan("deliver_late")
        return Plan("wait", rec.retries_end)
    if rec.state == "late":
        return Plan("wait", rec.lease_until) if rec.leased(now) else Plan("deliver_late")
    if rec.rest == "due" or (rec.rest == "sending" and not rec.leased(now)):
        return Plan("send_rest")
    if rec.rest == "sending":
        return Plan("wait", rec.lease_until)
    return Plan("done")
