"""Usage reports: counters summed over days per value of a dimension, with cost from `pricing:`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.operator import Price
from bot.usage.ledger import Counts

NAMES = {"in": "tokens_in", "out": "tokens_out", "est_in": "estimated_in",
         "est_out": "estimated_out", "msgs": "messages", "tools": "tool_calls",
         "images": "images", "speech": "speech"}


def _empty() -> dict[str, Any]:
    return {**dict.fromkeys(NAMES.values(), 0), "cost": 0.0}


def _add(row: dict[str, Any], model: str, counts: Mapping[str, int],
         pricing: Mapping[str, Price], unpriced: set[str]) -> None:
    for metric, amount in counts.items():
        if metric in NAMES:
            row[NAMES[metric]] += amount
    price = pricing.get(model)
    if price is None:
        if counts.get("in") or counts.get("out"):
            unpriced.add(model)
        return
    row["cost"] += price.cost(counts.get("in", 0), counts.get("out", 0))


def summarize(days: Sequence[str], per_day: Sequence[Counts], pricing: Mapping[str, Price],
              by: str, top: int | None = None) -> dict[str, Any]:
    """`{"by", "from", "to", "rows": [...], "totals", "days": [...], "unpriced"}`, rows by tokens."""
    rows: dict[str, dict[str, Any]] = {}
    totals, unpriced = _empty(), set[str]()
    series = []
    for day, counts in zip(days, per_day, strict=True):
        daily = _empty()
        for value, models in counts.items():
            row = rows.setdefault(value, {"key": value, **_empty(), "models": {}})
            for model, metrics in models.items():
                _add(row, model, metrics, pricing, unpriced)
                _add(daily, model, metrics, pricing, set())
                per_model = row["models"].setdefault(model, _empty())
                _add(per_model, model, metrics, pricing, set())
        for name in NAMES.values():
            totals[name] += daily[name]
        totals["cost"] += daily["cost"]
        series.append({"date": day, **_rounded(daily)})
    ranked = sorted(rows.values(), key=lambda r: (-(r["tokens_in"] + r["tokens_out"]),
                                                  -r["messages"], r["key"]))
    for row in ranked:
        row["cost"] = round(row["cost"], 6)
        row["models"] = {m: _rounded(v) for m, v in sorted(row["models"].items())}
    return {"by": by, "from": days[0], "to": days[-1], "rows": ranked[:top] if top else ranked,
            "totals": _rounded(totals), "days": series, "unpriced": sorted(unpriced)}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "cost": round(row["cost"], 6)}
