"""The term list's cost per message at 10,000 terms: `python -m bench.moderation [--terms N]`.

In process, no service: the input step's check and the output check (`Moderation.check`, the
term list only), the streaming filter over a whole answer in 4-character deltas, and the
matcher's build (what a runtime change costs each instance). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import aiohttp

from bot.llm import OpenAILLM
from bot.metrics import Metrics
from bot.moderation import Moderation, StreamFilter, TermMatcher
from bot.settings import LLMSettings, ModerationSettings
from bot.storage import MemoryStorage

HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 3500)]  # the common CJK block
LETTERS = "abcdefghijklmnopqrstuvwxyz"
ZH_TEXT = ("我们今天讨论一下如何在团队里更好地沟通，首先要明确目标，然后分工合作，最后定期复盘。" * 40)
EN_TEXT = ("Here is a short plan: first agree on the goal, then split the work, and review it "
           "every week so that nobody is surprised. ") * 12


def term_list(count: int, seed: int = 13) -> list[str]:
    """Half Chinese terms of 2-6 characters, half Latin words of 4-12 letters."""
    rng = random.Random(seed)
    half = count // 2
    chinese = ["".join(rng.choice(HANZI) for _ in range(rng.randint(2, 6))) for _ in range(half)]
    latin = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(4, 12)))
             for _ in range(count - half)]
    return chinese + latin


def per_call(function: Callable[[], Any], seconds: float = 1.0) -> float:
    """Median microseconds per call over 5 rounds of ~`seconds`/5 each."""
    calls = 1
    while True:  # calibrate the round size
        started = time.perf_counter()
        for _ in range(calls):
            function()
        if time.perf_counter() - started > seconds / 50:
            break
        calls *= 2
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls * 10):
            function()
        rounds.append((time.perf_counter() - started) / (calls * 10) * 1e6)
    return statistics.median(rounds)


def stream(matcher: TermMatcher, text: str) -> None:
    """One answer through the filter in 4-character deltas, as the pipeline feeds it."""
    filtered = StreamFilter(matcher)
    for i in range(0, len(text), 4):
        filtered.feed(text[i:i + 4])
    filtered.flush()


async def policy_cost(terms: list[str], messages: dict[str, str]) -> dict[str, float]:
    """`Moderation.check` per message: what the input step and the output check pay."""
    async with aiohttp.ClientSession() as http:
        llm = OpenAILLM(LLMSettings(), Metrics())
        moderation = Moderation(ModerationSettings(), MemoryStorage(), llm, http, Metrics())
        await moderation.start(watch=False)
        moderation.terms.matcher = TermMatcher(terms)
        results = {}
        for name, text in messages.items():
            rounds = []
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(2000):
                    await moderation.check(text, "input")
                rounds.append((time.perf_counter() - started) / 2000 * 1e6)
            results[name] = statistics.median(rounds)
        await llm.close()
        return results


def main(argv: list[str]) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.moderation")
    parser.add_argument("--terms", type=int, default=10_000)
    args = parser.parse_args(argv)
    terms = term_list(args.terms)
    started = time.perf_counter()
    matcher = TermMatcher(terms)
    build_ms = (time.perf_counter() - started) * 1000
    hit = terms[0]
    messages = {
        "chat message, 60 Chinese characters": ZH_TEXT[:60],
        "answer, 1,000 Chinese characters": ZH_TEXT[:1000],
        "answer, 1,000 Chinese characters, one term in it": ZH_TEXT[:500] + hit + ZH_TEXT[500:1000],
        "answer, 1,000 Latin characters": EN_TEXT[:1000],
        "answer, 1,000 full-width Latin characters (folded one by one)": "".join(
            chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in EN_TEXT[:1000]),
        "answer, 1,000 characters with a ligature (folded one by one, index map)":
            ("ﬁ" + EN_TEXT)[:1000],
    }
    lines = [f"{matcher.size} terms, built in {build_ms:.0f} ms; Python {sys.version.split()[0]}",
             "", "| what | µs |", "|---|---:|"]
    for name, text in messages.items():
        lines.append(f"| term list, {name} | {per_call(partial(matcher.find, text)):.1f} |")
    for name in ("answer, 1,000 Chinese characters", "answer, 1,000 Latin characters"):
        whole = per_call(partial(stream, matcher, messages[name]))
        lines.append(f"| streaming filter, {name} in 4-character deltas: per answer | {whole:.0f} |")
        lines.append(f"| … per delta | {whole / 250:.1f} |")
    checks = asyncio.run(policy_cost(terms, {k: messages[k] for k in (
        "chat message, 60 Chinese characters", "answer, 1,000 Chinese characters")}))
    for name, micros in checks.items():
        lines.append(f"| `Moderation.check` (the pipeline's call, term list only), {name} "
                     f"| {micros:.1f} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
