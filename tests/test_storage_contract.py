"""One storage contract, run against both backends: in-process memory and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.storage import MemoryStorage, RedisStorage, Storage, Turn


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "memory":
        store: Storage = MemoryStorage()
    else:
        store = RedisStorage(request.getfixturevalue("redis_url"), prefix="contract:")
    yield store
    await store.close()


def turns(*contents: str) -> list[Turn]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": c}
            for i, c in enumerate(contents)]


async def test_history_starts_empty(storage: Storage) -> None:
    assert await storage.history("c1") == []


async def test_history_appends_in_order(storage: Storage) -> None:
    await storage.append_history("c1", turns("q1", "a1"), max_items=10, ttl=60)
    await storage.append_history("c1", turns("q2", "a2"), max_items=10, ttl=60)
    assert [t["content"] for t in await storage.history("c1")] == ["q1", "a1", "q2", "a2"]


async def test_history_keeps_only_the_newest_items(storage: Storage) -> None:
    for i in range(5):
        await storage.append_history("c1", turns(f"q{i}", f"a{i}"), max_items=4, ttl=60)
    assert [t["content"] for t in await storage.history("c1")] == ["q3", "a3", "q4", "a4"]


async def test_history_keeps_unicode(storage: Storage) -> None:
    await storage.append_history("c1", turns("你好", "👋"), max_items=4, ttl=60)
    assert [t["content"] for t in await storage.history("c1")] == ["你好", "👋"]


async def test_history_expires_after_its_idle_ttl(storage: Storage) -> None:
    await storage.append_history("c1", turns("q", "a"), max_items=4, ttl=0.05)
    await asyncio.sleep(0.15)
    assert await storage.history("c1") == []


async def test_clear_history_forgets_one_conversation(storage: Storage) -> None:
    await storage.append_history("c1", turns("q", "a"), max_items=4, ttl=60)
    await storage.append_history("c2", turns("q", "a"), max_items=4, ttl=60)
    await storage.clear_history("c1")
    assert await storage.history("c1") == []
    assert len(await storage.history("c2")) == 2


async def test_conversation_returns_prefs_and_history_together(storage: Storage) -> None:
    await storage.set_pref("c1", "preset", "translator", ttl=60)
    await storage.set_pref("c1", "model", "m2", ttl=60)
    await storage.append_history("c1", turns("q", "a"), max_items=4, ttl=60)
    prefs, history = await storage.conversation("c1")
    assert prefs == {"preset": "translator", "model": "m2"}
    assert [t["content"] for t in history] == ["q", "a"]


async def test_conversation_of_a_stranger_is_empty(storage: Storage) -> None:
    assert await storage.conversation("nobody") == ({}, [])


async def test_prefs_survive_clearing_the_history(storage: Storage) -> None:
    await storage.set_pref("c1", "preset", "translator", ttl=60)
    await storage.clear_history("c1")
    assert (await storage.conversation("c1"))[0] == {"preset": "translator"}


async def test_get_returns_what_set_stored(storage: Storage) -> None:
    await storage.set("k", "v")
    assert await storage.get("k") == "v"


async def test_get_of_a_missing_key_is_none(storage: Storage) -> None:
    assert await storage.get("missing") is None


async def test_set_with_ttl_expires(storage: Storage) -> None:
    await storage.set("k", "v", ttl=0.05)
    await asyncio.sleep(0.15)
    assert await storage.get("k") is None


async def test_delete_removes_a_value(storage: Storage) -> None:
    await storage.set("k", "v")
    await storage.delete("k")
    assert await storage.get("k") is None


async def test_claim_is_won_by_exactly_one_of_many_concurrent_callers(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.claim("job", ttl=60) for _ in range(20)))
    assert results.count(True) == 1


async def test_claim_can_be_won_again_after_its_ttl(storage: Storage) -> None:
    assert await storage.claim("job", ttl=0.05)
    await asyncio.sleep(0.15)
    assert await storage.claim("job", ttl=60)


async def test_claim_stores_its_value(storage: Storage) -> None:
    await storage.claim("job", ttl=60, value="owner-1")
    assert await storage.get("job") == "owner-1"


async def test_incr_counts_concurrent_increments_exactly(storage: Storage) -> None:
    await asyncio.gather(*(storage.incr("n", ttl=60) for _ in range(25)))
    assert await storage.incr("n", ttl=60) == 26


async def test_incr_window_starts_at_the_first_increment(storage: Storage) -> None:
    await storage.incr("n", ttl=0.1)
    await storage.incr("n", ttl=60)  # must not extend the window
    await asyncio.sleep(0.25)
    assert await storage.incr("n", ttl=60) == 1


async def test_incr_many_counts_each_key_in_order(storage: Storage) -> None:
    await storage.incr("a", ttl=60)
    assert await storage.incr_many([("a", 60), ("b", 60)]) == [2, 1]


async def test_incr_claim_counts_every_call_and_claims_for_the_first(storage: Storage) -> None:
    results = await asyncio.gather(*(storage.incr_claim("n", 60, "c", 60) for _ in range(5)))
    assert sorted(results) == [(1, True), (2, False), (3, False), (4, False), (5, False)]


async def test_concurrent_reads_of_one_loop_turn_each_get_their_own_value(storage: Storage) -> None:
    for n in range(20):
        await storage.set(f"k{n}", f"v{n}")
    values = await asyncio.gather(*(storage.get(f"k{n}") for n in range(21)))
    assert values == [*(f"v{n}" for n in range(20)), None]


async def test_set_notify_stores_the_value_and_raises_the_signal(storage: Storage) -> None:
    await storage.set_notify("k", "v", 60, "sig")
    assert (await storage.get("k"), await storage.wait("sig", 0.01)) == ("v", True)


async def test_wait_returns_true_once_notified(storage: Storage) -> None:
    waiter = asyncio.ensure_future(storage.wait("sig", seconds=5))
    await asyncio.sleep(0.05)
    await storage.notify("sig", ttl=60)
    assert await asyncio.wait_for(waiter, 5) is True


async def test_wait_times_out_without_a_signal(storage: Storage) -> None:
    assert await storage.wait("sig", seconds=0.1) is False


async def test_signal_is_sticky_for_later_waiters(storage: Storage) -> None:
    await storage.notify("sig", ttl=60)
    assert await storage.wait("sig", seconds=0.1) is True
    assert await storage.wait("sig", seconds=0.1) is True


async def test_one_signal_wakes_every_waiter(storage: Storage) -> None:
    waiters = [asyncio.ensure_future(storage.wait("sig", seconds=5)) for _ in range(3)]
    await asyncio.sleep(0.05)
    await storage.notify("sig", ttl=60)
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [True, True, True]


async def test_ping_succeeds_when_the_backend_is_up(storage: Storage) -> None:
    await storage.ping()


async def test_hash_all_of_a_missing_hash_is_empty(storage: Storage) -> None:
    assert await storage.hash_all("{kb}:files") == {}


async def test_hash_update_sets_fields_of_several_hashes_and_counts(storage: Storage) -> None:
    first = await storage.hash_update([("{kb}:a", {"x": "1", "y": "2"}), ("{kb}:b", {"z": "3"})],
                                      "{kb}:version")
    second = await storage.hash_update([("{kb}:a", {"x": "10"})], "{kb}:version")
    assert (first, second) == (1, 2)
    assert await storage.hash_all("{kb}:a") == {"x": "10", "y": "2"}
    assert await storage.get("{kb}:version") == "2"


async def test_hash_update_with_none_deletes_a_field(storage: Storage) -> None:
    await storage.hash_update([("{kb}:a", {"x": "1", "y": "2"})], "{kb}:version")
    await storage.hash_update([("{kb}:a", {"x": None, "missing": None})], "{kb}:version")
    assert await storage.hash_all("{kb}:a") == {"y": "2"}


async def test_hash_get_reads_fields_of_several_hashes_in_order(storage: Storage) -> None:
    await storage.hash_update([("{kb}:a", {"x": "1"}), ("{kb}:b", {"y": "✓ 2"})], "{kb}:version")
    assert await storage.hash_get([("{kb}:a", ["x", "nope"]), ("{kb}:b", ["y"]), ("{kb}:c", [])]) \
        == [["1", None], ["✓ 2"], []]


async def test_concurrent_hash_updates_each_count_once(storage: Storage) -> None:
    counts = await asyncio.gather(*(storage.hash_update([("{kb}:a", {f"f{n}": "v"})], "{kb}:v")
                                    for n in range(10)))
    assert sorted(counts) == list(range(1, 11))
    assert len(await storage.hash_all("{kb}:a")) == 10
