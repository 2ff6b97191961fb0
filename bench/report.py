"""The results as markdown: one table of figures, one of ratios to the bare handlers."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

BARES = ("bare_verify", "bare_llm", "bare_safe")


def machine() -> str:
    """CPU model and count, kernel, Python."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def _f(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"  # NaN when nothing was measured


def _latency(row: dict[str, Any]) -> str:
    text = f"{_f(row['own_p50_ms'])} / {_f(row['own_p99_ms'])}"
    if "ack_p50_ms" in row:
        text += (f" (ack {_f(row['ack_p50_ms'])} / {_f(row['ack_p99_ms'])}, reply call "
                 f"{_f(row['reply_p50_ms'])} / {_f(row['reply_p99_ms'])}, first card update "
                 f"{_f(row.get('first_p50_ms', float('nan')))} / "
                 f"{_f(row.get('first_p99_ms', float('nan')))})")
    return text


def _sent(row: dict[str, Any]) -> str:
    return f"; sent {row['redis_sent_per_msg']:.1f}" if "redis_sent_per_msg" in row else ""


def figures(rows: list[dict[str, Any]]) -> list[str]:
    """The main table."""
    lines = [
        "| scenario | in flight | LLM ms | msg/s | own p50 / p99 ms | CPU s per 1000 msgs | "
        "peak RSS MB | RSS growth MB per 1000 in flight | Redis round trips (cmds) per msg | "
        "errors / late | load side CPU % |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['level']} | {r['latency_ms']:.0f} | {r['rate']:.0f} | "
            f"{_latency(r)} | {r['cpu_s_per_1000']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['rss_growth_mb_per_1000']:.1f} | {r['redis_rt_per_msg']:.1f} "
            f"({r['redis_cmds_per_msg']:.1f}{_sent(r)}) | {r['errors']} / {r['late']} | "
            f"{r['side_cpu_pct']:.0f} |")
    return lines


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    """Ours / bare at the same level and latency: throughput, CPU per message, p50."""
    bare = {(r["scenario"], r["level"], r["latency_ms"]): r for r in rows if r["scenario"] in BARES}
    lines = [
        "| scenario | in flight | LLM ms | msg/s ours/bare_llm | msg/s ours/bare_verify | "
        "CPU per msg ours/bare_llm | CPU per msg ours/bare_verify | own p50 ours/bare_llm |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["scenario"] in BARES:
            continue
        key = (r["level"], r["latency_ms"])
        llm, verify = bare.get(("bare_llm", *key)), bare.get(("bare_verify", *key))

        def ratio(base: dict[str, Any] | None, field: str, r: dict[str, Any] = r) -> str:
            return "–" if not base or not base[field] else f"{r[field] / base[field]:.2f}"

        lines.append(f"| {r['scenario']} | {r['level']} | {r['latency_ms']:.0f} | "
                     f"{ratio(llm, 'rate')} | {ratio(verify, 'rate')} | "
                     f"{ratio(llm, 'cpu_s_per_1000')} | {ratio(verify, 'cpu_s_per_1000')} | "
                     f"{ratio(llm, 'own_p50_ms')} |")
    return lines


def safe_ratios(rows: list[dict[str, Any]]) -> list[str]:
    """wechat_safe against bare_safe (the same crypto library) and against wechat_plain."""
    by = {(r["scenario"], r["level"], r["latency_ms"]): r for r in rows}
    lines = ["| in flight | LLM ms | msg/s wechat_safe/bare_safe | CPU per msg wechat_safe/bare_safe | "
             "msg/s wechat_safe/wechat_plain |", "|---:|---:|---:|---:|---:|"]
    for (name, level, latency), r in by.items():
        if name != "wechat_safe":
            continue
        bare, plain = by.get(("bare_safe", level, latency)), by.get(("wechat_plain", level, latency))

        def ratio(base: dict[str, Any] | None, field: str, r: dict[str, Any] = r) -> str:
            return "–" if not base or not base[field] else f"{r[field] / base[field]:.2f}"

        lines.append(f"| {level} | {latency:.0f} | {ratio(bare, 'rate')} | "
                     f"{ratio(bare, 'cpu_s_per_1000')} | {ratio(plain, 'rate')} |")
    return lines if len(lines) > 2 else []


def markdown(rows: list[dict[str, Any]], mode: str) -> str:
    """The tables with the machine line."""
    head = [f"Machine: {machine()}. Mode: `{mode}`.", ""]
    safe = safe_ratios(rows)
    return "\n".join([*head, *figures(rows), "", *ratios(rows), "", *safe, *([""] if safe else [])])
