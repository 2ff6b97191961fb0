"""The WeChat message record's transitions, one test each, on a fake clock (docs/wechat.md)."""

from __future__ import annotations

import dataclasses

from adapters.wechat import record as r
from adapters.wechat.record import Record, Timing

T = Timing(lease=20.0, retries_over=24.0, write_grace=5.0)
START = 1_000_000.0


def making(**changes: object) -> Record:
    rec, _ = r.arrive(None, START, "maker", T)
    return dataclasses.replace(rec, **changes)  # type: ignore[arg-type]


def made(parts: tuple[str, ...] = ("answer",), **changes: object) -> Record:
    rec = r.made(making(), START + 1, "maker", parts, T)
    assert rec is not None
    return dataclasses.replace(rec, **changes)  # type: ignore[arg-type]


def test_first_delivery_creates_the_record_and_makes_the_answer() -> None:
    rec, arrival = r.arrive(None, START, "t1", T)
    assert arrival == r.Arrival(1, True)
    assert (rec.state, rec.owner, rec.lease_until, rec.retries_end) == (
        "making", "t1", START + 20, START + 24)


def test_a_retry_is_counted_and_does_not_make_the_answer_again() -> None:
    rec, arrival = r.arrive(making(), START + 5, "t2", T)
    assert arrival == r.Arrival(2, False)
    assert (rec.tries, rec.owner) == (2, "maker")


def test_an_arrival_retried_after_its_write_landed_still_makes_the_answer_once() -> None:
    # The first attempt's write reached the master but was reported failed (not on a replica).
    rec, arrival = r.arrive(making(), START + 0.5, "maker", T)
    assert arrival == r.Arrival(1, True)
    assert rec == making()


def test_a_retry_after_the_makers_lease_lapsed_takes_the_making_over() -> None:
    rec, arrival = r.arrive(making(), START + 21, "t2", T)
    assert arrival == r.Arrival(2, True)
    assert (rec.owner, rec.makers, rec.lease_until) == ("t2", 2, START + 41)


def test_the_owner_renews_its_lease() -> None:
    rec = r.renew(making(), START + 10, "maker", T)
    assert rec is not None
    assert rec.lease_until == START + 30


def test_a_stale_owner_cannot_renew_a_lease_taken_over() -> None:
    taken, _ = r.arrive(making(), START + 21, "t2", T)
    assert r.renew(taken, START + 22, "maker", T) is None


def test_a_re_run_cannot_take_over_a_live_lease() -> None:
    assert r.take_over(making(), START + 19, "rerun", T) is None


def test_a_re_run_takes_over_a_lapsed_lease() -> None:
    rec = r.take_over(making(), START + 21, "rerun", T)
    assert rec is not None
    assert (rec.owner, rec.makers) == ("rerun", 2)


def test_a_re_run_finds_a_made_answer_instead_of_making_another() -> None:
    assert r.take_over(made(), START + 100, "rerun", T) is None
    assert r.plan(made(), START + 2).kind == "wait"


def test_the_maker_stores_the_answer() -> None:
    rec = r.made(making(), START + 3, "maker", ("a", "b"), T)
    assert rec is not None
    assert (rec.state, rec.parts, rec.owner) == ("made", ("a", "b"), "")


def test_a_maker_that_lost_its_lease_cannot_store_its_answer() -> None:
    taken, _ = r.arrive(making(), START + 21, "t2", T)
    assert r.made(taken, START + 22, "maker", ("stale",), T) is None


def test_an_answer_made_after_the_last_delivery_gave_up_goes_late_under_the_makers_lease() -> None:
    rec = r.made(making(late=True), START + 16, "maker", ("a",), T)
    assert rec is not None
    assert (rec.state, rec.owner, rec.lease_until) == ("late", "maker", START + 36)


def test_an_empty_answer_has_nothing_to_deliver() -> None:
    rec = r.made(making(), START + 1, "maker", (), T)
    assert rec is not None
    assert rec.state == "served"
    assert r.take(rec, START + 2, True, T)[1].kind == "nothing"
    assert r.plan(rec, START + 100).kind == "done"


def test_a_delivery_takes_a_made_answer() -> None:
    rec, taken = r.take(made(("a", "b")), START + 2, False, T)
    assert taken == r.Take("answer", ("a", "b"))
    assert rec is not None
    assert (rec.taking, rec.taken_until) == (1, START + 7)


def test_a_delivery_of_an_answer_still_being_made_waits() -> None:
    assert r.take(making(), START + 2, False, T) == (None, r.Take("wait"))


def test_the_last_delivery_without_an_answer_says_still_thinking_and_flags_it_late() -> None:
    rec, taken = r.take(making(), START + 14.5, True, T)
    assert taken.kind == "placeholder"
    assert rec is not None
    assert rec.late


def test_a_retry_after_the_answer_was_served_gets_it_again() -> None:
    served = r.written(made(), ok=True, last=False, customer_service=False)
    assert served is not None
    assert r.take(served, START + 8, False, T)[1] == r.Take("answer", ("answer",))


def test_a_delivery_after_a_late_delivery_gets_no_reply() -> None:
    for state in ("late", "pushed", "handed"):
        assert r.take(made(state=state), START + 30, True, T) == (None, r.Take("nothing"))


def test_a_written_answer_is_served() -> None:
    rec = r.written(made(taking=1), ok=True, last=False, customer_service=False)
    assert rec is not None
    assert (rec.state, rec.taking, rec.rest) == ("served", 0, "")


def test_serving_the_first_part_of_a_long_answer_queues_the_rest_for_continuation() -> None:
    rec = r.written(made(("a", "b")), ok=True, last=False, customer_service=False)
    assert rec is not None
    assert rec.rest == "queued"


def test_serving_the_first_part_with_customer_service_makes_the_rest_due() -> None:
    rec = r.written(made(("a", "b")), ok=True, last=False, customer_service=True)
    assert rec is not None
    assert rec.rest == "due"
    assert r.plan(rec, START + 3).kind == "send_rest"


def test_an_unwritten_last_delivery_flags_the_answer_late() -> None:
    rec = r.written(made(taking=1), ok=False, last=True, customer_service=False)
    assert rec is not None
    assert (rec.state, rec.late, rec.taking) == ("made", True, 0)


def test_an_unwritten_earlier_delivery_leaves_the_answer_for_the_retry() -> None:
    rec = r.written(made(taking=1), ok=False, last=False, customer_service=False)
    assert rec is not None
    assert (rec.state, rec.late) == ("made", False)


def test_late_delivery_is_not_claimed_while_wechat_may_still_retry() -> None:
    assert r.claim_late(made(), START + 10, "late", T) is None


def test_late_delivery_is_claimed_once_the_retries_are_over() -> None:
    rec = r.claim_late(made(), START + 24, "late", T)
    assert rec is not None
    assert (rec.state, rec.owner) == ("late", "late")


def test_late_delivery_is_claimed_at_once_when_the_last_delivery_gave_up() -> None:
    assert r.claim_late(made(late=True), START + 2, "late", T) is not None


def test_late_delivery_waits_for_a_delivery_writing_the_answer() -> None:
    taken, _ = r.take(made(late=True), START + 2, True, T)
    assert r.claim_late(taken, START + 3, "late", T) is None
    assert r.plan(taken, START + 3) == r.Plan("wait", START + 7)


def test_a_served_answer_never_goes_out_late() -> None:
    served = r.written(made(), ok=True, last=True, customer_service=True)
    assert r.claim_late(served, START + 100, "late", T) is None
    assert r.plan(served, START + 100).kind == "done"


def test_a_late_deliverer_that_died_is_replaced_after_its_lease() -> None:
    late = r.claim_late(made(), START + 24, "first", T)
    assert r.claim_late(late, START + 30, "second", T) is None
    again = r.claim_late(late, START + 45, "second", T)
    assert again is not None
    assert again.owner == "second"


def test_only_the_late_owner_records_the_late_delivery() -> None:
    late = r.claim_late(made(), START + 24, "first", T)
    assert r.late_done(late, "other", "pushed") is None
    done = r.late_done(late, "first", "pushed")
    assert done is not None
    assert done.state == "pushed"


def test_the_rest_is_claimed_once_and_recorded_by_its_owner() -> None:
    due = r.written(made(("a", "b")), ok=True, last=False, customer_service=True)
    sending = r.claim_rest(due, START + 3, "rest", T)
    assert sending is not None
    assert r.claim_rest(sending, START + 4, "other", T) is None
    assert r.rest_done(sending, "other", "sent") is None
    sent = r.rest_done(sending, "rest", "sent")
    assert sent is not None
    assert (sent.rest, r.plan(sent, START + 5).kind) == ("sent", "done")


def test_a_rest_sender_that_died_is_replaced_after_its_lease() -> None:
    due = r.written(made(("a", "b")), ok=True, last=False, customer_service=True)
    sending = r.claim_rest(due, START + 3, "rest", T)
    assert r.plan(sending, START + 30).kind == "send_rest"
    assert r.claim_rest(sending, START + 30, "other", T) is not None


def test_the_plan_waits_for_a_live_maker_and_takes_over_a_dead_one() -> None:
    assert r.plan(making(), START + 10) == r.Plan("wait", START + 20)
    assert r.plan(making(), START + 21).kind == "take_over"


def test_the_plan_waits_for_the_retries_then_delivers_late() -> None:
    assert r.plan(made(), START + 10) == r.Plan("wait", START + 24)
    assert r.plan(made(), START + 24).kind == "deliver_late"


def test_the_plan_of_an_expired_record_is_done() -> None:
    assert r.plan(None, START).kind == "done"


def test_the_record_survives_its_stored_form() -> None:
    rec = made(("a", "\x00image:MEDIA_1"), late=True)
    assert Record.from_json(rec.to_json()) == rec
