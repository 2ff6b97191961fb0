"""The admin API's view of one user: history, preset, model, usage, quota and blocked state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.core import Core
from bot.pipeline.limits import blocked_key
from bot.pipeline.route import allowed_models, find_route, limits_for
from bot.platform import Services
from bot.usage.ledger import Who, days_between
from bot.usage.report import summarize

USAGE_DAYS = 30


async def is_blocked(services: Services, platform: str, user: str) -> bool:
    """Blocked in the config (`limits.block`) or from the admin API."""
    if user in services.settings.limits.block.get(platform, ()):
        return True
    return await services.storage.get(blocked_key(platform, user)) is not None


async def user_view(core: Core, platform: str, user: str) -> dict[str, Any]:
    """Everything the admin page shows about a user's direct conversation with the bot."""
    services, ledger = core.services, core.ledger
    settings, conversation = services.settings, f"{platform}:{user}"
    route = find_route(settings.operator.routes, platform, "default", user, user)
    prefs, history = await services.storage.conversation(conversation)
    preset = services.presets.get(prefs.get("preset") or route.preset)
    chosen = prefs.get("model")
    model = (chosen if chosen in allowed_models(route, settings.llm.models) else None) \
        or route.model or preset.model or settings.llm.model
    today = dt.date.fromisoformat(ledger.today())
    days = days_between(today - dt.timedelta(days=USAGE_DAYS - 1), today)
    counts = await ledger.of_value(days, "user", conversation)
    usage = summarize(days, counts, settings.operator.pricing, "user")
    limits = limits_for(route, settings.limits)
    used, _ = await ledger.tokens_today(Who(platform, user, user))
    return {
        "platform": platform, "id": user, "user": conversation, "conversation": conversation,
        "route": route.name, "history_turns": len(history), "preset": preset.name,
        "model": model, "blocked": await is_blocked(services, platform, user),
        "usage": {key: usage[key] for key in ("from", "to", "totals", "days")},
        "models": usage["rows"][0]["models"] if usage["rows"] else {},
        "quota": {"tokens_per_user_per_day": limits.tokens_per_user or None,
                  "used_today": used,
                  "left_today": max(limits.tokens_per_user - used, 0)
                  if limits.tokens_per_user else None},
    }
