"""The exactly-once soak, short variant (bench/soak.py): 3 `serve` processes on one Redis, 120
WeChat messages retried like WeChat to random instances, Feishu redeliveries and async API jobs,
an instance SIGKILLed while making answers and restarted, one Redis restart. It waits past every
timer before counting (the service's own WeChat timings; a 5 s lease and 3 s job re-claim)."""

from __future__ import annotations

from bench.soak import SHORT, ok, report, soak


async def test_no_message_is_lost_or_seen_twice_through_a_kill_and_a_redis_restart() -> None:
    figures = await soak(SHORT)
    assert ok(figures), report(figures)
    assert figures["messages"]["wechat"] == SHORT.wechat
    assert figures["answers_seen"] == sum(figures["messages"].values())
