"""Races between instances on the WeChat records, on a fake clock, against memory and real Redis.

Each test plays two or more instances through the ledger's transitions on one store; the
compare-and-swap must let exactly one of them act, whatever the interleaving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from functools import partial

import pytest

from adapters.wechat.delivery import Delivery
from adapters.wechat.ledger import Handed, Ledger
from adapters.wechat.local import Local, Taker
from adapters.wechat.maker import Maker
from adapters.wechat.outbox import Outbox
from adapters.wechat.parse import Inbound
from adapters.wechat.produce import Answer
from adapters.wechat.record import Timing
from adapters.wechat.settings import WeChatSettings
from adapters.wechat.settle import Settler
from bot.storage import MemoryStorage, RedisStorage, Storage
from bot.tasks import TaskOwner

T = Timing(lease=20.0, retries_over=24.0)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    store: Storage = (MemoryStorage() if request.param == "memory"
                      else RedisStorage(request.getfixturevalue("redis_url"), prefix="ledger:"))
    yield store
    await store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ledger(storage: Storage, clock: Clock, customer_service: bool = False) -> Ledger:
    return Ledger(storage, T, customer_service, record_ttl=900, queue_ttl=3600, clock=clock)


def msg(key: str = "m1", openid: str = "o1") -> Inbound:
    return Inbound("text", "", openid, "gh_a", key, text="q")


async def test_concurrent_first_deliveries_elect_exactly_one_maker(storage: Storage,
                                                                    clock: Clock) -> None:
    books = [ledger(storage, clock) for _ in range(6)]
    arrivals = await asyncio.gather(*(b.arrive(msg(), f"t{n}", 1) for n, b in enumerate(books)))
    assert sorted(a.attempt for _, _, a in arrivals) == [1, 2, 3, 4, 5, 6]
    assert [a.make for _, _, a in arrivals].count(True) == 1


async def test_a_stalled_maker_taken_over_cannot_store_its_answer(storage: Storage,
                                                                   clock: Clock) -> None:
    a, b = ledger(storage, clock), ledger(storage, clock)
    await a.arrive(msg(), "a", 1)
    clock.now += 25  # a stalls longer than its lease
    assert await b.claim(msg(), "b", "take_over") is not None
    assert await a.renew(msg(), "a") is False
    assert (await a.made(msg(), "a", lambda h: ("stale",)))[0] is None
    rec, _ = await b.made(msg(), "b", lambda h: ("fresh",))
    assert rec is not None
    assert rec.parts == ("fresh",)


async def test_two_settlers_claim_a_late_delivery_once(storage: Storage, clock: Clock) -> None:
    a, b = ledger(storage, clock), ledger(storage, clock)
    await a.arrive(msg(), "a", 1)
    await a.made(msg(), "a", lambda h: ("answer",))
    clock.now += 30
    claims = await asyncio.gather(a.claim(msg(), "sa", "deliver_late"),
                                  b.claim(msg(), "sb", "deliver_late"))
    assert [c is not None for c in claims].count(True) == 1


async def test_a_delivery_taking_the_answer_first_stops_the_late_delivery(storage: Storage,
                                                                          clock: Clock) -> None:
    a, b = ledger(storage, clock), ledger(storage, clock)
    await a.arrive(msg(), "a", 1)
    await a.made(msg(), "a", lambda h: ("answer",))
    clock.now += 30  # a duplicate push arrives just as the retries are over
    taken, _ = await b.take(msg(), last=True)
    assert taken.kind == "answer"
    assert await a.claim(msg(), "late", "deliver_late") is None
    await b.written(msg(), ok=True, last=True)
    clock.now += 10
    assert await a.claim(msg(), "late", "deliver_late") is None


async def test_two_hand_overs_for_one_subscriber_are_both_kept(storage: Storage,
                                                               clock: Clock) -> None:
    book = ledger(storage, clock)
    for key in ("m1", "m2"):
        await book.arrive(msg(key), "maker", 1)
        await book.made(msg(key), "maker", partial(lambda k, handed: (f"answer {k}",), key))
    clock.now += 30
    for key in ("m1", "m2"):
        assert await book.claim(msg(key), f"late-{key}", "deliver_late") is not None
    await asyncio.gather(*(book.hand_over(msg(k), f"late-{k}", [f"answer {k}"], rest=False)
                           for k in ("m1", "m2")))
    [doc] = await storage.read_docs(["wechat:{gh_a/o1}:handover"])
    assert doc.value is not None
    assert sorted(item["key"] for item in json.loads(doc.value)) == ["m1", "m2"]


async def test_the_next_answer_takes_the_hand_over_exactly_once(storage: Storage,
                                                                clock: Clock) -> None:
    book = ledger(storage, clock)
    await book.arrive(msg("m1"), "maker", 1)
    await book.made(msg("m1"), "maker", lambda h: ("first answer",))
    clock.now += 30
    await book.claim(msg("m1"), "late", "deliver_late")
    await book.hand_over(msg("m1"), "late", ["first answer"], rest=False)
    seen: list[list[str]] = []

    def compose(handed: list[dict[str, object]]) -> tuple[str, ...]:
        seen.append([str(p) for item in handed for p in item["parts"]])  # type: ignore[attr-defined]
        return ("second answer",)

    await book.arrive(msg("m2"), "maker2", 1)
    rec, _ = await book.made(msg("m2"), "maker2", compose)
    assert rec is not None
    assert seen[-1] == ["first answer"]
    [doc] = await storage.read_docs(["wechat:{gh_a/o1}:handover"])
    assert doc.value is None


async def test_two_subscribers_never_share_records_or_hand_overs(storage: Storage,
                                                                 clock: Clock) -> None:
    book = ledger(storage, clock)
    await book.arrive(msg("same-id", "o1"), "a", 1)
    _, _, arrival = await book.arrive(msg("same-id", "o2"), "b", 1)
    assert arrival.make  # the same MsgId of another subscriber is another message


async def test_continuation_parts_are_taken_in_order_and_put_back_in_front(storage: Storage,
                                                                         clock: Clock) -> None:
    book = ledger(storage, clock)
    await book.arrive(msg(), "a", 1)
    await book.made(msg(), "a", lambda h: ("p1", "p2", "p3"))
    await book.take(msg(), last=False)
    await book.written(msg(), ok=True, last=False)
    assert await book.next_more(msg()) == ("p2", "p3")
    await book.put_back_more(msg(), "p2")
    assert await book.next_more(msg()) == ("p2", "p3")
    assert await book.next_more(msg()) == ("p3", "")
    assert await book.next_more(msg()) is None


async def test_a_listed_accounts_records_and_hand_overs_are_its_own(storage: Storage,
                                                                    clock: Clock) -> None:
    default = ledger(storage, clock)
    shop = Ledger(storage, T, False, record_ttl=900, queue_ttl=3600, clock=clock, account="shop")
    arrived = await asyncio.gather(default.arrive(msg(), "a", 1), shop.arrive(msg(), "b", 1))
    assert [a.make for _, _, a in arrived] == [True, True]  # same MsgId, two records
    await shop.made(msg(), "b", lambda h: ("shop answer",))
    clock.now += 30
    assert await shop.claim(msg(), "late", "deliver_late") is not None
    await shop.hand_over(msg(), "late", ["shop answer"], rest=False)
    default_doc, shop_doc = await storage.read_docs(["wechat:{gh_a/o1}:handover",
                                                     "wechat:{shop/gh_a/o1}:handover"])
    assert default_doc.value is None
    assert shop_doc.value is not None


class CountingReads:
    """The store, counting its document calls (every other call passes through)."""

    def __init__(self, store: Storage) -> None:
        self._store = store
        self.reads = 0
        self.swaps = 0
        self.waits = 0

    async def read_docs(self, keys: list[str]) -> object:
        self.reads += 1
        return await self._store.read_docs(keys)

    async def swap_docs(self, puts: object, etags: object) -> object:
        self.swaps += 1
        return await self._store.swap_docs(puts, etags)  # type: ignore[arg-type]

    async def wait_change(self, key: str, etag: str, seconds: float) -> object:
        self.waits += 1  # a wait reads the document too (inside the store)
        return await self._store.wait_change(key, etag, seconds)

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


async def test_an_answer_made_and_taken_in_time_reads_nothing_before_its_swaps(
    storage: Storage, clock: Clock
) -> None:
    counting = CountingReads(storage)
    book = ledger(counting, clock)  # type: ignore[arg-type]
    _, doc, arrival = await book.arrive(msg("fresh"), "a", 1)
    assert arrival.make
    _, made = await book.made(msg("fresh"), "a", lambda h: ("answer",), doc)
    taken, after_take = await book.take(msg("fresh"), last=False, known=made)
    served, _ = await book.written(msg("fresh"), ok=True, last=False, known=after_take)
    assert (taken.kind, taken.parts, served is not None and served.state) == ("answer", ("answer",), "served")
    assert counting.reads == 0


async def test_made_on_a_record_taken_over_meanwhile_stores_nothing(storage: Storage, clock: Clock) -> None:
    a, b = ledger(storage, clock), ledger(storage, clock)
    _, won, _ = await a.arrive(msg("stale"), "a", 1)
    clock.now += T.lease + 1  # a stalled past its lease; b's settling job takes over
    assert await b.claim(msg("stale"), "b", "take_over") is not None
    assert await a.made(msg("stale"), "a", lambda h: ("late answer",), won) == (None, None)
    rec, _ = await b.read(msg("stale"))
    assert rec is not None
    assert (rec.state, rec.owner, rec.parts) == ("making", "b", ())


async def test_a_long_answer_served_after_an_earlier_ones_queue_replaces_it(
    storage: Storage, clock: Clock
) -> None:
    book = ledger(storage, clock)
    for key, parts in (("long1", ("p1", "p2", "p3")), ("long2", ("q1", "q2"))):
        _, doc, _ = await book.arrive(msg(key), "a", 1)
        _, made = await book.made(msg(key), "a", partial(lambda answer, handed: answer, parts), doc)
        _, taken = await book.take(msg(key), last=False, known=made)
        await book.written(msg(key), ok=True, last=False, known=taken)  # the queue guessed absent
    assert await book.next_more(msg()) == ("q2", "")


async def test_the_settling_job_plans_on_the_answer_made_here_without_reading_it(
    storage: Storage, clock: Clock
) -> None:
    counting = CountingReads(storage)
    book = ledger(counting, clock)  # type: ignore[arg-type]
    tasks, local = TaskOwner(), Local()
    outbox = Outbox(WeChatSettings(token="t", app_id="wx1"), book, None)

    thinking = asyncio.Event()

    async def produce(_: Inbound) -> Answer:
        await thinking.wait()  # the job is read while the answer is being made (as it usually is)
        return Answer("the answer")

    maker = Maker(book, local, outbox, tasks, produce, lambda answer, handed: ("the answer",))
    settler = Settler(book, local, maker, outbox, tasks, jobs=None)
    _, doc, _ = await book.arrive(msg("here"), "a", 1)
    run = maker.start(msg("here"), "a", doc)
    settling = asyncio.ensure_future(settler.settle(msg("here")))
    await asyncio.sleep(0.05)
    thinking.set()
    made = await local.wait(run, 5)
    assert made is not None
    await asyncio.sleep(0.05)  # the job waits on the record as made, for a delivery to take it
    reads_while_made = counting.reads
    _, taken = await book.take(msg("here"), last=False, known=made)
    await book.written(msg("here"), ok=True, last=False, known=taken)
    await asyncio.wait_for(settling, 5)  # served: nothing left to deliver
    assert reads_while_made == 0  # only the wait's own read (storage's wait_change) ran
    await tasks.drain(1)


async def test_made_with_take_counts_the_held_delivery_in_the_same_swap(storage: Storage,
                                                                       clock: Clock) -> None:
    book = ledger(storage, clock)
    _, doc, _ = await book.arrive(msg("held"), "a", 1)
    rec, made = await book.made(msg("held"), "a", lambda h: ("answer",), doc, take=True)
    assert rec is not None
    assert (rec.state, rec.taking, rec.taken_until) == ("made", 1, clock.now + T.write_grace)
    served, _ = await book.written(msg("held"), ok=True, last=False, known=made)
    assert served is not None
    assert (served.state, served.taking) == ("served", 0)


async def test_made_with_take_takes_nothing_once_the_last_delivery_said_still_thinking(
    storage: Storage, clock: Clock
) -> None:
    book = ledger(storage, clock)
    _, doc, _ = await book.arrive(msg("slow"), "a", 1)
    taken, doc = await book.take(msg("slow"), last=True, known=doc)
    assert taken.kind == "placeholder"
    rec, _ = await book.made(msg("slow"), "a", lambda h: ("answer",), doc, take=True)
    assert rec is not None
    assert (rec.state, rec.taking) == ("late", 0)  # the maker delivers it late, once


def parts(_answer: Answer | None, _handed: Handed) -> tuple[str, ...]:
    return ("the answer",)


async def answer_now(_: Inbound) -> Answer:
    return Answer("the answer")


async def answer_soon(_: Inbound) -> Answer:
    await asyncio.sleep(0.05)  # the settling job starts while the answer is being made, as usual
    return Answer("the answer")


def service(book: Ledger, local: Local | None = None,
            compose: Callable[[Answer | None, Handed], tuple[str, ...]] = parts,
            ) -> tuple[Delivery, TaskOwner]:
    """A delivery with its maker and settling job in process, as one instance wires them."""
    tasks, local = TaskOwner(), local or Local()
    settings = WeChatSettings(token="t", app_id="wx1")
    outbox = Outbox(settings, book, None)
    maker = Maker(book, local, outbox, tasks, answer_soon, compose)
    settler = Settler(book, local, maker, outbox, tasks, jobs=None)
    return Delivery(settings, book, local, maker, settler, outbox, tasks, answer_soon,
                    compose), tasks


async def answered(storage: Storage, clock: Clock, key: str) -> tuple[CountingReads, Ledger, TaskOwner]:
    """One delivery on the maker's instance, answered and written (the record counted)."""
    counting = CountingReads(storage)
    book = ledger(counting, clock)  # type: ignore[arg-type]
    delivery, tasks = service(book)
    served = await delivery.answer(msg(key), asyncio.get_running_loop().time())
    assert (served.text, served.after is not None) == ("the answer", True)
    assert served.after is not None
    await served.after(True)
    return counting, book, tasks


async def test_the_first_delivery_held_on_the_makers_instance_costs_three_swaps(
    storage: Storage, clock: Clock
) -> None:
    counting, book, tasks = await answered(storage, clock, "one")
    rec, _ = await book.read(msg("one"))
    assert rec is not None
    assert (rec.state, rec.taking) == ("served", 0)
    assert counting.swaps == 3  # arrive; made with its take; written
    await tasks.drain(5)


async def test_the_settling_job_here_ends_on_the_written_swap_without_reading(
    storage: Storage, clock: Clock
) -> None:
    counting, _, tasks = await answered(storage, clock, "two")
    assert await tasks.drain(5) == 0  # the job ended: served, nothing left to deliver
    assert (counting.reads, counting.waits, counting.swaps) == (0, 0, 3)


async def test_a_take_made_for_a_delivery_that_stopped_waiting_is_given_back(
    storage: Storage, clock: Clock
) -> None:
    book = ledger(storage, clock)
    taker = Taker(last=True, until=asyncio.get_running_loop().time() + 5)

    def leaving(answer: Answer | None, handed: Handed) -> tuple[str, ...]:
        taker.gone = True  # the delivery's wait ends while the maker's swap runs
        return ("the answer",)

    tasks, local = TaskOwner(), Local()
    outbox = Outbox(WeChatSettings(token="t", app_id="wx1"), book, None)
    maker = Maker(book, local, outbox, tasks, answer_now, leaving)
    _, doc, _ = await book.arrive(msg("left"), "a", 1)
    run = maker.start(msg("left"), "a", doc)
    run.taker = taker
    assert run.task is not None
    await asyncio.wait_for(run.task, 5)
    rec, _ = await book.read(msg("left"))
    assert rec is not None
    # nobody writes it: not held back by a take, and late at once (it was the last delivery)
    assert (rec.state, rec.taking, rec.late) == ("made", 0, True)
    await tasks.drain(1)


async def test_the_settling_job_here_not_told_of_the_write_in_time_follows_storage(
    storage: Storage, clock: Clock
) -> None:
    counting = CountingReads(storage)
    quick = Timing(lease=20.0, retries_over=24.0, write_grace=0.2)
    book = Ledger(counting, quick, False, record_ttl=900, queue_ttl=3600, clock=clock)  # type: ignore[arg-type]
    delivery, tasks = service(book)
    served = await delivery.answer(msg("slow write"), asyncio.get_running_loop().time())
    assert served.after is not None
    await asyncio.sleep(0.5)  # past the take's write_grace: the job stopped waiting to be told
    await served.after(True)
    assert await tasks.drain(5) == 0  # it still saw the record served, from storage, and ended
    assert counting.waits >= 1


async def test_a_delivery_marked_gone_takes_through_the_record_not_the_take_given_back(
    storage: Storage, clock: Clock
) -> None:
    counting, local = CountingReads(storage), Local()
    book = ledger(counting, clock)  # type: ignore[arg-type]

    def leaving(answer: Answer | None, handed: Handed) -> tuple[str, ...]:
        run = local.get(msg("gone").key)
        assert run is not None
        assert run.taker is not None
        run.taker.gone = True  # its wait ended while the maker's swap ran: the maker gives it back
        return ("the answer",)

    delivery, tasks = service(book, local, leaving)
    served = await delivery.answer(msg("gone"), asyncio.get_running_loop().time())
    assert served.after is not None
    await served.after(True)
    await tasks.drain(5)
    rec, _ = await book.read(msg("gone"))
    assert rec is not None
    assert (served.text, rec.state, rec.taking) == ("the answer", "served", 0)
    # arrive; made with a take; its give-back; the delivery's own take; written (the give-back
    # and the take start from the same record: one of them swaps twice). Using the take given
    # back instead would be 4.
    assert counting.swaps in (5, 6)
