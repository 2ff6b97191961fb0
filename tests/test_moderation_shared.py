"""The shared term list: `python -m bot moderation` (a real subprocess) changing what every
running instance refuses, without a restart; the file merged with the stored list; `check`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.cli_run import environment, run, spawn
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI
from tests.moderation_words import ask, words_file
from tests.redis_proc import free_port

APPLIED_WITHIN = 5.0  # the promise: every instance applies a change this soon


async def instance(start_service: StartService, redis_url: str, tmp_path: Path) -> RunningService:
    config = base_config(moderation={"words_file": words_file(tmp_path)},
                         limits={"per_user_per_minute": 0})  # the tests poll faster than 20/min
    return await start_service(config=config, env={"REDIS_URL": redis_url})


async def refused(service: RunningService, text: str) -> bool:
    return bool((await ask(service, text)).get("refused"))


async def until_refused(service: RunningService, text: str, expected: bool = True) -> None:
    """Until `text` is (or no longer is) refused; fails after APPLIED_WITHIN."""
    started = time.monotonic()
    while await refused(service, text) != expected:
        assert time.monotonic() - started < APPLIED_WITHIN, f"{text!r} not applied in time"
        await asyncio.sleep(0.1)


def cli_env(fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return environment(fake_openai, REDIS_URL=redis_url,
                       MODERATION_WORDS_FILE=words_file(tmp_path))


async def test_a_runtime_add_reaches_every_running_instance(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    first = await instance(start_service, redis_url, tmp_path)
    second = await instance(start_service, redis_url, tmp_path)
    assert not await refused(second, "a zebra crossing")
    env = cli_env(fake_openai, redis_url, tmp_path)
    code, out, _ = await spawn("moderation", "add", "Zebra", env=env)
    assert (code, out.strip()) == (0, "added: zebra; running instances apply it within 2 s")
    await until_refused(first, "a ZEBRA crossing")
    await until_refused(second, "a ｚｅｂｒａ crossing")


async def test_a_runtime_remove_takes_a_file_term_out(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    service = await instance(start_service, redis_url, tmp_path)
    assert await refused(service, "confidential")
    code, _, _ = await run("moderation", "remove", "confidential",
                           env=cli_env(fake_openai, redis_url, tmp_path))
    assert code == 0
    await until_refused(service, "confidential", expected=False)


async def test_stored_terms_are_merged_with_the_file_at_start_up(
    start_service: StartService, fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    await run("moderation", "add", "walrus", env=cli_env(fake_openai, redis_url, tmp_path))
    service = await instance(start_service, redis_url, tmp_path)
    assert (await refused(service, "walrus"), await refused(service, "confidential")) == (True, True)


async def test_list_names_each_term_and_where_it_comes_from(
    fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    env = cli_env(fake_openai, redis_url, tmp_path)
    await run("moderation", "add", "walrus", env=env)
    await run("moderation", "remove", "敏感词", env=env)
    code, out, _ = await run("moderation", "list", env=env)
    assert code == 0
    assert out.splitlines() == ["confidential\tfile", "walrus\tadded", "敏感词\tremoved"]


async def test_test_shows_the_input_refused_and_the_output_masked(
    fake_openai: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    code, out, _ = await run("moderation", "test", "so CONFIDENTIAL",
                             env=cli_env(fake_openai, redis_url, tmp_path))
    assert code == 1
    assert out.splitlines() == [
        "input: refused (flagged by terms; terms: confidential)",
        "output: masked (flagged by terms; terms: confidential): so ************",
    ]


async def test_test_of_a_clean_text_passes_with_status_zero(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    env = environment(fake_openai, MODERATION_WORDS_FILE=words_file(tmp_path))
    code, out, _ = await run("moderation", "test", "hello there", env=env)
    assert (code, out.splitlines()) == (0, ["input: passes", "output: passes"])


async def test_changing_the_list_without_redis_is_refused_with_the_reason(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    code, _, err = await run("moderation", "add", "walrus", env=environment(fake_openai))
    assert code == 2
    assert "REDIS_URL is not set" in err


async def test_a_missing_words_file_stops_start_up_with_one_line(fake_openai: FakeOpenAI) -> None:
    env = environment(fake_openai, MODERATION_WORDS_FILE="/nonexistent/words.txt")
    code, _, err = await run("check", env=env)
    assert code == 2
    assert "config error: moderation.words_file: cannot read /nonexistent/words.txt" in err


async def test_check_tries_the_openai_moderation_endpoint(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    env = environment(fake_openai, MODERATION_OPENAI="true", MODERATION_WORDS_FILE=words_file(tmp_path))
    code, out, _ = await run("check", env=env)
    assert code == 0
    assert "OK   moderation terms: 2 term(s) in force (file 2, added 0, removed 0)" in out
    assert "OK   moderation openai: answered" in out
    assert fake_openai.moderations[-1]["model"] == "omni-moderation-latest"


async def test_check_fails_naming_an_unreachable_hook(fake_openai: FakeOpenAI) -> None:
    env = environment(fake_openai, MODERATION_HTTP_URL=f"http://127.0.0.1:{free_port()}/judge")
    code, out, _ = await run("check", env=env)
    assert code == 1
    assert "FAIL moderation http: moderation: moderation hook failed" in out


async def test_with_redis_down_at_start_up_the_file_terms_still_apply(
    start_service: StartService, tmp_path: Path
) -> None:
    service = await instance(start_service, f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    assert await refused(service, "confidential")
