"""One storage contract, run against both backends: in-process memory and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.storage import Doc, MemoryStorage, Put, RedisStorage, Storage, Turn
from bot.storage.connect import parse
from bot.storage.replicas import replicas_for


@pytest.fixture(params=["memory", "redis", "cluster", "sentinel"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    """Every backend and topology: in-process memory, standalone Redis, a 3-master Redis Cluster
    (any multi-key script or MULTI across slots fails there) and a Sentinel-managed master, as the
    service opens it (document swaps wait for the replica, here up to 5 s: right after the group
    starts the first acknowledgement can take a second)."""
    if request.param == "memory":
        store: Storage = MemoryStorage()
    elif request.param == "sentinel":
        group = request.getfixturevalue("redis_sentinels")
        store = RedisStorage(group.url, prefix=f"contract-{request.node.name}:",
                             replicas=replicas_for(parse(group.url), None, 5.0))
    else:
        url = request.getfixturevalue("redis_url" if request.param == "redis" else "cluster_url")
        store = RedisStorage(url, prefix="contract:")
    yield store
    await store.close()


async def history(storage: Storage, conversation: str) -> list[Turn]:
    return (await storage.conversation(conversation))[1]


def turns(*contents: str) -> list[Turn]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": c}
            for i, c in enumerate(contents)]


async def test_history_starts_empty(storage: Storage) -> None:
    assert await history(storage, "c1") == []


async def test_history_appends_in_order(storage: Storage) -> None:
    await storage.append_history("c1", turns("q1", "a1"), max_items=10, ttl=60)
    await storage.append_history("c1", turns("q2", "a2"), max_items=10, ttl=60)
    assert [t["content"] for t in await history(storage, "c1")] == ["q1", "a1", "q2", "a2"]


async def test_history_keeps_only_the_newest_items(storage: Storage) -> None:
    for i in range(5):
        await storage.append_history("c1", turns(f"q{i}", f"a{i}"), max_items=4, ttl=60)
    assert [t["content"] for t in await history(storage, "c1")] == ["q3", "a3", "q4", "a4"]


async def test_history_keeps_unicode(storage: Storage) -> None:
    await storage.append_history("c1", turns("你好", "👋"), max_items=4, ttl=60)
    assert [t["content"] for t in await history(storage, "c1")] == ["你好", "👋"]


async def test_history_expires_after_its_idle_ttl(storage: Storage) -> None:
    await storage.append_history("c1", turns("q", "a"), max_items=4, ttl=0.05)
    await asyncio.sleep(0.15)
    assert await history(storage, "c1") == []


async def test_clear_history_forgets_one_conversation(storage: Storage) -> None:
    await storage.append_history("c1", turns("q", "a"), max_items=4, ttl=60)
    await storage.append_history("c2", turns("q", "a"), max_items=4, ttl=60)
    await storage.clear_history("c1")
    assert await history(storage, "c1") == []
    assert len(await history(storage, "c2")) == 2


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
    await asyncio.gather(*(storage.incr_many([("n", 60)]) for _ in range(25)))
    assert await storage.incr_many([("n", 60)]) == [26]


async def test_incr_window_starts_at_the_first_increment(storage: Storage) -> None:
    await storage.incr_many([("n", 0.1)])
    await storage.incr_many([("n", 60)])  # must not extend the window
    await asyncio.sleep(0.25)
    assert await storage.incr_many([("n", 60)]) == [1]


async def test_incr_many_counts_each_key_in_order(storage: Storage) -> None:
    await storage.incr_many([("{t}a", 60)])  # one MULTI: the keys share a hash tag (Redis Cluster)
    assert await storage.incr_many([("{t}a", 60), ("{t}b", 60)]) == [2, 1]



async def test_concurrent_reads_of_one_loop_turn_each_get_their_own_value(storage: Storage) -> None:
    for n in range(20):
        await storage.set(f"k{n}", f"v{n}")
    values = await asyncio.gather(*(storage.get(f"k{n}") for n in range(21)))
    assert values == [*(f"v{n}" for n in range(20)), None]


async def test_concurrent_writes_of_one_loop_turn_each_take_effect(storage: Storage) -> None:
    await storage.set("gone", "x")
    await asyncio.gather(*(storage.set(f"w{n}", f"v{n}", ttl=60) for n in range(10)),
                         storage.delete("gone"))
    claims = await asyncio.gather(*(storage.claim(f"c{n % 3}", ttl=60) for n in range(9)))
    assert claims.count(True) == 3  # one winner per key, in the same turn
    assert await asyncio.gather(*(storage.get(f"w{n}") for n in range(10))) == [
        f"v{n}" for n in range(10)]
    assert await storage.get("gone") is None







async def test_a_set_never_changed_is_empty_at_version_zero(storage: Storage) -> None:
    assert (await storage.set_read("s"), await storage.set_version("s")) == ((0, []), 0)


async def test_set_update_adds_and_removes_members_and_bumps_the_version(storage: Storage) -> None:
    assert await storage.set_update("s", add=["b", "a", "c"]) == 1
    assert await storage.set_update("s", remove=["c", "absent"]) == 2
    assert await storage.set_read("s") == (2, ["a", "b"])


async def test_set_update_with_a_member_in_both_lists_adds_it(storage: Storage) -> None:
    await storage.set_update("s", add=["x"], remove=["x"])
    assert await storage.set_read("s") == (1, ["x"])


async def test_set_version_is_the_version_set_read_returns(storage: Storage) -> None:
    for _ in range(3):
        await storage.set_update("s", add=["x"])
    assert await storage.set_version("s") == (await storage.set_read("s"))[0] == 3


async def test_set_keeps_unicode_members(storage: Storage) -> None:
    await storage.set_update("s", add=["敏感词", "ｆｕｌｌ"])
    assert (await storage.set_read("s"))[1] == sorted(["敏感词", "ｆｕｌｌ"])


async def test_concurrent_set_updates_all_land(storage: Storage) -> None:
    await asyncio.gather(*(storage.set_update("s", add=[f"m{n}"]) for n in range(25)))
    version, members = await storage.set_read("s")
    assert (version, len(members)) == (25, 25)


async def test_sets_are_separate_by_key(storage: Storage) -> None:
    await storage.set_update("s1", add=["a"])
    assert await storage.set_read("s2") == (0, [])


async def test_ping_succeeds_when_the_backend_is_up(storage: Storage) -> None:
    await storage.ping()


def put(key: str, etag: str, value: str | None, ttl: float | None = 60) -> Put:
    return Put(key, etag, value, ttl)


async def test_a_missing_document_reads_as_absent(storage: Storage) -> None:
    assert await storage.read_docs(["d1"]) == [Doc("d1", "", None)]


async def test_swap_creates_a_document_that_is_absent(storage: Storage) -> None:
    ok, docs = await storage.swap_docs([put("d1", "", "v1")], ["e1"])
    assert (ok, docs) == (True, [Doc("d1", "e1", "v1")])
    assert await storage.read_docs(["d1"]) == [Doc("d1", "e1", "v1")]


async def test_swap_with_a_stale_etag_changes_nothing_and_returns_the_current_document(
    storage: Storage,
) -> None:
    await storage.swap_docs([put("d1", "", "v1")], ["e1"])
    ok, docs = await storage.swap_docs([put("d1", "old", "v2")], ["e2"])
    assert (ok, docs) == (False, [Doc("d1", "e1", "v1")])
    assert await storage.read_docs(["d1"]) == [Doc("d1", "e1", "v1")]


async def test_swap_of_several_documents_is_all_or_nothing(storage: Storage) -> None:
    await storage.swap_docs([put("{u}a", "", "a1")], ["ea"])
    ok, docs = await storage.swap_docs([put("{u}a", "ea", "a2"), put("{u}b", "wrong", "b1")],
                                       ["ea2", "eb"])
    assert ok is False
    assert docs == [Doc("{u}a", "ea", "a1"), Doc("{u}b", "", None)]
    assert await storage.read_docs(["{u}a", "{u}b"]) == [Doc("{u}a", "ea", "a1"), Doc("{u}b", "", None)]


async def test_swap_with_no_value_deletes_the_document(storage: Storage) -> None:
    await storage.swap_docs([put("d1", "", "v1")], ["e1"])
    ok, _ = await storage.swap_docs([put("d1", "e1", None)], ["e2"])
    assert ok is True
    assert await storage.read_docs(["d1"]) == [Doc("d1", "", None)]


async def test_an_empty_string_is_a_present_document(storage: Storage) -> None:
    await storage.swap_docs([put("d1", "", "")], ["e1"])
    assert await storage.read_docs(["d1"]) == [Doc("d1", "e1", "")]


async def test_a_document_expires_after_its_ttl(storage: Storage) -> None:
    await storage.swap_docs([put("d1", "", "v1", ttl=0.05)], ["e1"])
    await asyncio.sleep(0.15)
    assert await storage.read_docs(["d1"]) == [Doc("d1", "", None)]


async def test_concurrent_swaps_from_one_etag_let_exactly_one_win(storage: Storage) -> None:
    await storage.swap_docs([put("d1", "", "v0")], ["e0"])
    results = await asyncio.gather(*(storage.swap_docs([put("d1", "e0", f"v{n}")], [f"e{n + 1}"])
                                     for n in range(20)))
    assert [ok for ok, _ in results].count(True) == 1


async def test_wait_change_returns_at_once_when_the_etag_already_differs(storage: Storage) -> None:
    await storage.swap_docs([put("d1", "", "v1")], ["e1"])
    assert await storage.wait_change("d1", "", 5) == Doc("d1", "e1", "v1")


async def test_wait_change_wakes_when_another_caller_swaps(storage: Storage) -> None:
    waiter = asyncio.ensure_future(storage.wait_change("d1", "", 5))
    await asyncio.sleep(0.05)
    await storage.swap_docs([put("d1", "", "v1")], ["e1"])
    assert await asyncio.wait_for(waiter, 5) == Doc("d1", "e1", "v1")


async def test_wait_change_times_out_with_the_unchanged_document(storage: Storage) -> None:
    assert await storage.wait_change("d1", "", 0.1) == Doc("d1", "", None)


async def test_one_swap_wakes_every_waiter_of_the_document(storage: Storage) -> None:
    waiters = [asyncio.ensure_future(storage.wait_change("d1", "", 5)) for _ in range(3)]
    await asyncio.sleep(0.05)
    await storage.swap_docs([put("d1", "", "v1")], ["e1"])
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5) == [Doc("d1", "e1", "v1")] * 3


async def test_a_swap_leaving_an_absent_document_absent_wakes_none_of_its_waiters(
    storage: Storage,
) -> None:
    waiter = asyncio.ensure_future(storage.wait_change("{u}b", "", 0.3))
    await asyncio.sleep(0.05)
    ok, docs = await storage.swap_docs([put("{u}a", "", "a1"), put("{u}b", "", None)], ["ea", "eb"])
    assert (ok, docs) == (True, [Doc("{u}a", "ea", "a1"), Doc("{u}b", "", None)])
    assert not waiter.done()  # nothing changed there: it waits out its time
    assert await asyncio.wait_for(waiter, 5) == Doc("{u}b", "", None)


async def test_a_swap_expecting_a_document_absent_fails_once_it_exists(storage: Storage) -> None:
    await storage.swap_docs([put("{u}b", "", "b1")], ["eb"])
    ok, docs = await storage.swap_docs([put("{u}a", "", "a1"), put("{u}b", "", None)], ["ea", "x"])
    assert ok is False
    assert docs == [Doc("{u}a", "", None), Doc("{u}b", "eb", "b1")]


async def test_hincr_adds_to_fields_of_several_hashes(storage: Storage) -> None:
    await storage.hincr([("u:{d1}:a", {"x": 2, "y": 1}), ("u:{d1}:b", {"x": 5})], ttl=60)
    await storage.hincr([("u:{d1}:a", {"x": 3})], ttl=60)
    assert await storage.hread([("u:{d1}:a", None), ("u:{d1}:b", None)]) == [
        {"x": "5", "y": "1"}, {"x": "5"}]


async def test_hincr_counts_concurrent_increments_exactly(storage: Storage) -> None:
    await asyncio.gather(*(storage.hincr([("h", {"n": 1})], ttl=60) for _ in range(25)))
    assert await storage.hread([("h", ["n"])]) == [{"n": "25"}]


async def test_hincr_expiry_starts_at_the_first_increment(storage: Storage) -> None:
    await storage.hincr([("h", {"n": 1})], ttl=0.1)
    await storage.hincr([("h", {"n": 1})], ttl=60)  # must not extend the retention
    await asyncio.sleep(0.25)
    assert await storage.hread([("h", None)]) == [{}]


async def test_hread_of_named_fields_returns_only_those_present(storage: Storage) -> None:
    await storage.hincr([("h", {"a": 1, "b": 2})], ttl=60)
    assert await storage.hread([("h", ["a", "zzz"]), ("missing", ["a"]), ("h", [])]) == [
        {"a": "1"}, {}, {}]


async def test_stream_add_returns_increasing_ids_read_back_in_order(storage: Storage) -> None:
    ids = [await storage.stream_add("s", {"n": str(n), "text": "你好"}, max_len=10) for n in range(3)]
    entries = await storage.stream_range("s")
    assert [entry_id for entry_id, _ in entries] == ids == sorted(ids, key=lambda i: tuple(
        int(p) for p in i.split("-")))
    assert [fields for _, fields in entries] == [{"n": str(n), "text": "你好"} for n in range(3)]


async def test_stream_keeps_only_the_newest_max_len_entries(storage: Storage) -> None:
    for n in range(5):
        await storage.stream_add("s", {"n": str(n)}, max_len=3)
    assert [f["n"] for _, f in await storage.stream_range("s")] == ["2", "3", "4"]


async def test_stream_drops_entries_older_than_max_age(storage: Storage) -> None:
    await storage.stream_add("s", {"n": "old"}, max_len=10)
    await asyncio.sleep(0.15)
    await storage.stream_add("s", {"n": "new"}, max_len=10, max_age=0.1)
    assert [f["n"] for _, f in await storage.stream_range("s")] == ["new"]


async def test_stream_range_reads_newest_first_and_pages(storage: Storage) -> None:
    ids = [await storage.stream_add("s", {"n": str(n)}, max_len=10) for n in range(5)]
    first = await storage.stream_range("s", reverse=True, count=2)
    assert [i for i, _ in first] == [ids[4], ids[3]]
    rest = await storage.stream_range("s", end=f"({ids[3]}", reverse=True, count=10)
    assert [i for i, _ in rest] == [ids[2], ids[1], ids[0]]


async def test_stream_range_takes_millisecond_bounds(storage: Storage) -> None:
    first = await storage.stream_add("s", {"n": "1"}, max_len=10)
    await asyncio.sleep(0.01)
    second = await storage.stream_add("s", {"n": "2"}, max_len=10)
    after = str(int(first.split("-")[0]) + 1)
    assert [i for i, _ in await storage.stream_range("s", start=after)] == [second]
    assert [i for i, _ in await storage.stream_range("s", end=first.split("-")[0])] == [first]


async def test_stream_range_of_a_missing_stream_is_empty(storage: Storage) -> None:
    assert await storage.stream_range("nothing", reverse=True) == []
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
