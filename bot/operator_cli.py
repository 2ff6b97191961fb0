"""The operator's commands: `python -m bot audit export`, and the operator lines of `check`."""

from __future__ import annotations

import json
import sys

from bot.audit import Auditor, parse_since
from bot.errors import ConfigError
from bot.platform import Check, Services
from bot.settings import Settings
from bot.storage import open_storage


async def audit_export(settings: Settings, since: str, until: str | None) -> int:
    """Every audit entry from `since` (to `until`) as JSONL on stdout, oldest first."""
    try:
        start, end = parse_since(since), parse_since(until) if until else None
    except ValueError:
        raise ConfigError("--since/--until: expected a date (2024-05-01), a date-time or Unix "
                          "seconds") from None
    storage = open_storage(settings.storage)
    try:
        async for entry in Auditor(storage, settings.operator.audit).export(start, end):
            sys.stdout.write(json.dumps(entry, ensure_ascii=False) + "\n")
    finally:
        await storage.close()
    sys.stdout.flush()
    return 0


def account_checks(services: Services) -> Check:
    """Every account the adapters registered; each default preset must exist."""
    found = services.accounts.items()
    bad = [f"{platform}/{account}: preset {p.preset!r} does not exist"
           for (platform, account), p in found if p.preset and p.preset not in services.presets]
    names = ", ".join(f"{platform}/{account}" for (platform, account), _ in found)
    return Check("accounts", not bad, "; ".join(bad) or (names or "none configured"))


def operator_checks(services: Services) -> list[Check]:
    """Routes (each preset must exist), pricing (which models have none) and the audit trail."""
    operator, presets = services.settings.operator, services.presets
    bad = [f"{r.name}: preset {r.preset!r} does not exist in {services.settings.prompts_dir}/"
           for r in operator.routes if r.preset and r.preset not in presets]
    checks = [Check("routes", not bad, "; ".join(bad) or f"{len(operator.routes)} route(s) valid")]
    used = {services.settings.llm.model, *services.settings.llm.models,
            *(r.model for r in operator.routes if r.model),
            *(m for r in operator.routes for m in r.models or ())}
    unpriced = sorted(used - set(operator.pricing))
    checks.append(Check("pricing", True, f"no price for {', '.join(unpriced)} (cost counted as 0)"
                        if unpriced else f"{len(operator.pricing)} model(s) priced"))
    audit = operator.audit
    checks.append(Check("audit", True, f"on, kept {audit.retention_days:g} days, "
                        f"{'masked' if audit.mask else 'not masked'}" if audit.enabled
                        else "off (admin actions are still recorded)"))
    return checks
