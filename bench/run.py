"""The benchmark: start Redis, the fakes and each target as processes, drive them, report.

Placement on a 2-core machine: the process under test (the service or a bare handler) alone on
CPU 0; the load generator, the fake Feishu Open API (inside it), the fake LLM and Redis on CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import xmltodict

from bench import procs
from bench.client import Connection, request_bytes
from bench.load import BenchFeishu, Load
from bench.report import machine, markdown
from bench.scenarios import (
    _CRYPTO,
    API_KEY,
    SCENARIOS,
    WECHAT_AES_KEY,
    WECHAT_APP_ID,
    WECHAT_TOKEN,
    Scenario,
)
from tests.fakes.feishu import feishu_env
from tests.fakes.server import LoopbackServer

ALL = tuple(SCENARIOS)
# Levels above these run in --full only (Feishu's 1024 would take minutes to drain: each message
# is held ~0.5 s by the card replier's update rate and makes 4 Open API calls).
CAPS = {"feishu": 128}
JOB_STREAM = "imbot:{jobs}:stream"  # the service's durable jobs (default storage.key_prefix)
TARGETS = ("wechat_plain", "bare_verify", "bare_llm")


@dataclass(frozen=True)
class Step:
    """Scenarios run at these levels with this fake LLM latency, each level for `seconds`."""

    latency: float
    scenarios: tuple[str, ...]
    levels: tuple[int, ...]
    seconds: float


PLANS: dict[str, tuple[Step, ...]] = {
    "quick": (Step(0.0, ALL, (16, 128), 2.0),
              Step(0.5, TARGETS[:1] + TARGETS[2:], (128,), 3.0),
              Step(2.0, TARGETS[:1] + TARGETS[2:], (1024,), 6.0)),
    "default": (Step(0.0, ALL, (1, 16, 128, 1024), 4.0),
                Step(0.5, ("wechat_plain", "api_chat", "bare_llm"), (128,), 5.0),
                Step(2.0, ("wechat_plain", "api_chat", "bare_llm"), (1024,), 8.0)),
    "full": (Step(0.0, ALL, (1, 16, 128, 1024), 8.0),
             Step(0.5, ALL, (16, 128, 1024), 8.0),
             Step(2.0, ALL, (128, 1024), 10.0)),
}


class Bench:
    """The shared processes (Redis, fake LLM, fake Feishu) and the targets started per scenario."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.redis = procs.redis(workdir)
        port = procs.free_port()
        self.llm = procs.Proc("fake-llm", procs.python("bench.fakellm", "--port", str(port)), port)
        self.llm.wait_port()
        self.store = aioredis.from_url(f"redis://127.0.0.1:{self.redis.port}/0")
        self.feishu = BenchFeishu()
        self.numbers = 0
        self.results: list[dict[str, Any]] = []
        self.profile = False  # py-spy each measured level (collapsed stacks in the work dir)

    async def start(self) -> None:
        """The fake Feishu Open API runs inside this process (it resolves the waiting futures)."""
        self.feishu.server = await LoopbackServer(self.feishu.app()).start()

    async def close(self) -> None:
        """Stop the shared processes."""
        await self.store.aclose()
        if self.feishu.server is not None:
            await self.feishu.server.close()
        self.llm.stop()
        self.redis.stop()

    def _config(self) -> Path:
        config = {
            "server": {"host": "127.0.0.1"},
            "llm": {"max_retries": 0, "timeout": 30, "max_concurrency": 4096},
            "limits": {"per_user_per_minute": 0, "per_user_per_day": 0},
            "relay": {"per_key_per_minute": 0, "per_key_per_day": 0},  # one key for every user
            "prompts": {"dir": str(procs.ROOT / "prompts"), "default": "assistant"},
            "log": {"level": "INFO"},
        }
        path = self.workdir / "config.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        return path

    def target(self, scenario: Scenario) -> procs.Proc:
        """Start the process under test for `scenario`, pinned to CPU 0."""
        port = procs.free_port()
        llm = f"http://127.0.0.1:{self.llm.port}/v1"
        if scenario.target == "service":
            env = {"OPENAI_BASE_URL": llm, "OPENAI_API_KEY": "sk-bench", "BOT_API_KEYS": API_KEY,
                   "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/0", "WECHAT_TOKEN": WECHAT_TOKEN,
                   "WECHAT_ENCODING_AES_KEY": WECHAT_AES_KEY, "WECHAT_APP_ID": WECHAT_APP_ID,
                   **feishu_env(self.feishu)}
            argv = procs.python("bench.serve", "serve", "--config", str(self._config()), "--port", str(port))
        else:
            mode = scenario.target.removeprefix("bare_")
            argv = procs.python("bench.bare", "--port", str(port), "--mode", mode, "--llm", llm)
            env = {"WECHAT_ENCODING_AES_KEY": WECHAT_AES_KEY, "WECHAT_APP_ID": WECHAT_APP_ID}
        proc = procs.Proc(scenario.target, argv, port, env, self.workdir / f"{scenario.target}.log")
        procs.pin(proc.pid, {0})
        proc.wait_port()
        return proc

    async def set_latency(self, seconds: float) -> None:
        """Tell the fake LLM its latency."""
        connection = Connection(self.llm.port)
        await connection.send(request_bytes("POST", "/control/latency", str(seconds).encode()), 5)
        connection.close()

    def _load(self, scenario: Scenario, proc: procs.Proc, level: int) -> Load:
        self.numbers += 1
        feishu = self.feishu if scenario.feishu else None
        return Load(scenario, proc.port, level, f"r{self.numbers}", self.numbers * 10_000_000, feishu)

    async def preflight(self, scenario: Scenario, proc: procs.Proc) -> None:
        """One message checked in full, then a short warm-up; RuntimeError when it does not work."""
        load = self._load(scenario, proc, 1)
        await load.run(10.0, 1)
        if load.tally.errors or not load.tally.latencies:
            raise RuntimeError(f"{scenario.name}: preflight failed: {load.tally.first_error}")
        if scenario.name == "wechat_safe":
            await self._check_safe(proc)
        await self._load(scenario, proc, 16).run(0.5, 200)

    async def _check_safe(self, proc: procs.Proc) -> None:
        connection = Connection(proc.port)
        _, body = await connection.send(SCENARIOS["wechat_safe"].build("check", 1), 10)
        connection.close()
        text = body.decode()
        envelope = xmltodict.parse(text)["xml"]
        plain = _CRYPTO.decrypt_message(text, envelope["MsgSignature"], envelope["TimeStamp"],
                                        envelope["Nonce"])
        if "fake model" not in plain:
            raise RuntimeError("wechat_safe: the decrypted reply does not carry the answer")

    async def measure(self, scenario: Scenario, proc: procs.Proc, level: int, latency: float,
                      seconds: float) -> dict[str, Any]:
        """One level of one scenario, with the process and Redis figures around it."""
        await self.store.config_resetstat()
        base_rss = proc.memory_kb()
        proc.reset_peak()
        cpu = proc.cpu_seconds()
        side = time.process_time() + self.llm.cpu_seconds() + self.redis.cpu_seconds()
        load = self._load(scenario, proc, level)
        spy = self._spy(proc, f"{scenario.name}-{level}-{latency * 1000:.0f}ms", seconds)
        monitor = self._monitor(f"{scenario.name}-{level}") if level == 1 else None
        elapsed = await load.run(seconds, int(seconds * 12_000) + level)
        if spy is not None:
            spy.wait(timeout=30)
        await asyncio.sleep(0.3)  # background work after the answer (WeChat's settle, history)
        cpu = proc.cpu_seconds() - cpu
        side = time.process_time() + self.llm.cpu_seconds() + self.redis.cpu_seconds() - side
        stats = await self.store.info("stats")
        commands = await self.store.info("commandstats")
        if monitor is not None:
            await self._drain()
        sent = self._monitored(monitor)
        row = summarize(scenario, level, latency, load, elapsed, {
            "cpu": cpu, "side_cpu": side, "base_rss_kb": base_rss,
            "peak_rss_kb": max(proc.memory_kb("VmHWM"), proc.memory_kb()),
            "redis_reads": int(stats["total_reads_processed"]) - 1,
            "redis_commands": int(stats["total_commands_processed"]) - 1,
        })
        # which commands a message costs (INFO commandstats, reset with the stats), and how many
        # connections the service opened meanwhile
        done = max(row["answered"], 1)
        row["redis_cmds_by_name"] = {
            name.removeprefix("cmdstat_"): round(int(value["calls"]) / done, 2)
            for name, value in commands.items() if name not in ("cmdstat_info", "cmdstat_config")}
        row["redis_connections"] = int(stats["total_connections_received"])
        if sent is not None:
            row["redis_sent_per_msg"] = round(sum(sent.values()) / done, 2)
            row["redis_sent_by_name"] = {k: round(v / done, 2) for k, v in sent.most_common()}
        return row

    async def _drain(self, seconds: float = 45.0) -> None:
        """Until every job (WeChat's settling jobs end after the retries, ~24 s) ended, so what
        they send still counts for their messages, and nothing of this level runs into the next."""
        for _ in range(int(seconds * 2)):
            if not await self.store.xlen(JOB_STREAM):
                return
            await asyncio.sleep(0.5)

    def _monitor(self, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        """MONITOR (at 1 in flight only: it slows Redis down) to count what the service sends."""
        out = self.workdir / f"monitor-{name}.txt"
        with out.open("wb") as sink:
            popen = subprocess.Popen(["redis-cli", "-p", str(self.redis.port), "monitor"],
                                     stdout=sink, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        return popen, out

    @staticmethod
    def _monitored(monitor: tuple[subprocess.Popen[bytes], Path] | None) -> Counter[str] | None:
        """Commands the clients sent, by name: a script's own calls (`[0 lua]`) and the
        harness's INFO/CONFIG are not counted; MULTI and EXEC are."""
        if monitor is None:
            return None
        popen, out = monitor
        popen.terminate()
        popen.wait(timeout=10)
        sent: Counter[str] = Counter()
        for line in out.read_text(errors="replace").splitlines():
            source, _, rest = line.partition("] ")
            if not rest or " lua" in source:
                continue
            name = rest.split(" ", 1)[0].strip('"').upper()
            if name not in ("INFO", "CONFIG"):
                sent[name] += 1
        return sent


    def _spy(self, proc: procs.Proc, name: str, seconds: float) -> subprocess.Popen[bytes] | None:
        """py-spy (pip install py-spy: a profiling aid, not a dependency) on the target, if asked."""
        if not self.profile:
            return None
        out = self.workdir / f"profile-{name}.txt"
        return subprocess.Popen(["py-spy", "record", "--pid", str(proc.pid), "--format", "raw",
                                 "--rate", "100", "--duration", str(int(seconds)),
                                 "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(scenario: Scenario, level: int, latency: float, load: Load, elapsed: float,
              figures: dict[str, float]) -> dict[str, Any]:
    """The row of one run."""
    tally = load.tally
    done = len(tally.latencies)
    own = [x - (latency if scenario.llm else 0.0) for x in tally.latencies]
    per = 1000.0 / max(done, 1)
    result: dict[str, Any] = {
        "scenario": scenario.name, "level": level, "latency_ms": latency * 1000, "answered": done,
        "errors": tally.errors, "late": tally.late, "first_error": tally.first_error,
        "seconds": round(elapsed, 3), "rate": done / elapsed if elapsed else 0.0,
        "own_p50_ms": _pct(own, 0.5) * 1000, "own_p99_ms": _pct(own, 0.99) * 1000,
        "cpu_s_per_1000": figures["cpu"] * per, "side_cpu_pct": 100 * figures["side_cpu"] / elapsed,
        "peak_rss_mb": figures["peak_rss_kb"] / 1024,
        "rss_growth_mb_per_1000": (figures["peak_rss_kb"] - figures["base_rss_kb"]) / 1024 / level * 1000,
        "redis_rt_per_msg": figures["redis_reads"] / max(done, 1),
        "redis_cmds_per_msg": figures["redis_commands"] / max(done, 1),
    }
    if tally.acks:
        result.update(ack_p50_ms=_pct(tally.acks, 0.5) * 1000, ack_p99_ms=_pct(tally.acks, 0.99) * 1000,
                      reply_p50_ms=_pct(tally.replies, 0.5) * 1000,
                      reply_p99_ms=_pct(tally.replies, 0.99) * 1000,
                      first_p50_ms=_pct(tally.firsts, 0.5) * 1000,
                      first_p99_ms=_pct(tally.firsts, 0.99) * 1000)
    return result


async def run_plan(bench: Bench, plan: tuple[Step, ...], only: set[str] | None,
                   caps: dict[str, int]) -> None:
    """Every step of the plan; the target process is restarted for each scenario."""
    for step in plan:
        await bench.set_latency(step.latency)
        for name in step.scenarios:
            if only and name not in only:
                continue
            scenario = SCENARIOS[name]
            await bench.store.flushall()
            proc = bench.target(scenario)
            try:
                await bench.preflight(scenario, proc)
                for level in step.levels:
                    if level > caps.get(name, level):
                        continue
                    row = await bench.measure(scenario, proc, level, step.latency, step.seconds)
                    bench.results.append(row)
                    _progress(row)
            finally:
                proc.stop()


def _progress(row: dict[str, Any]) -> None:
    sys.stderr.write(
        f"{row['scenario']:>13} x{row['level']:<5} llm {row['latency_ms']:>5.0f} ms: "
        f"{row['rate']:8.1f} msg/s  own p50 {row['own_p50_ms']:7.1f} p99 {row['own_p99_ms']:7.1f} ms  "
        f"cpu {row['cpu_s_per_1000']:5.2f} s/1000  rss {row['peak_rss_mb']:6.1f} MB  "
        f"redis {row['redis_rt_per_msg']:4.1f} rt  err {row['errors']} late {row['late']}  "
        f"side {row['side_cpu_pct']:3.0f}%\n")
    if row["first_error"]:
        sys.stderr.write(f"    first error: {row['first_error']}\n")


async def _main(args: argparse.Namespace) -> int:
    procs.pin(os.getpid(), {1})  # the load side; children started from here inherit it
    workdir = Path(tempfile.mkdtemp(prefix="imbot-bench-"))
    bench = Bench(workdir)
    bench.profile = args.profile
    try:
        await bench.start()
        plan = PLANS[args.mode]
        # an ad-hoc run, e.g. for profiling: the first step's scenarios, at --latency if given
        if args.levels or args.seconds or args.latency is not None:
            first = plan[0]
            levels = tuple(int(x) for x in args.levels.split(",")) if args.levels else first.levels
            latency = first.latency if args.latency is None else args.latency / 1000
            plan = (Step(latency, first.scenarios, levels, args.seconds or first.seconds),)
        caps = {} if args.mode == "full" else CAPS
        await run_plan(bench, plan, set(args.only.split(",")) if args.only else None, caps)
    finally:
        await bench.close()
    out = Path(args.out) if args.out else workdir
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": machine(), "mode": args.mode,
                                                  "results": bench.results}, indent=1))
    table = markdown(bench.results, args.mode)
    (out / "results.md").write_text(table)
    sys.stdout.write(table + f"\n(results and logs in {out}, service logs in {workdir})\n")
    return 0


def main(argv: list[str]) -> int:
    """`python -m bench [--quick | --full] [--only a,b] [--out DIR]`."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", dest="mode", action="store_const", const="quick")
    group.add_argument("--full", dest="mode", action="store_const", const="full")
    parser.set_defaults(mode="default")
    parser.add_argument("--only", help="comma-separated scenario names: " + ", ".join(ALL))
    parser.add_argument("--out", help="directory for results.json and results.md")
    parser.add_argument("--levels", help="comma-separated in-flight levels (0 ms LLM unless --latency)")
    parser.add_argument("--latency", type=float, help="fake LLM latency in ms (with --levels)")
    parser.add_argument("--seconds", type=float, help="seconds per level (with --levels)")
    parser.add_argument("--profile", action="store_true",
                        help="record each level with py-spy (collapsed stacks in the work dir)")
    return asyncio.run(_main(parser.parse_args(argv)))
