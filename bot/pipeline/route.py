"""Per-chat routing: the first `routes:` entry matching the message decides its defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bot.accounts import Accounts, Profile
from bot.operator import DEFAULT_ROUTE, Route
from bot.pipeline.context import Context, Next
from bot.settings import LimitSettings


def find_route(routes: Sequence[Route], platform: str, account: str, chat: str,
               user: str) -> Route:
    """The first route that matches, or the default (global settings)."""
    for route in routes:
        if route.match.matches(platform, account, chat, user):
            return route
    return DEFAULT_ROUTE


def allowed_models(route: Route, default: tuple[str, ...]) -> tuple[str, ...]:
    """The models `/model` may choose from in this route."""
    return route.models if route.models is not None else default


def choose_model(ctx: Context, default_models: tuple[str, ...]) -> str | None:
    """The user's `/model` choice while allowed, else the route's, else the preset's (None =
    `llm.model`)."""
    chosen = ctx.prefs.get("model")
    if chosen and chosen in allowed_models(ctx.route, default_models):
        return chosen
    return ctx.route.model or (ctx.preset.model if ctx.preset else None)


def limits_for(route: Route, limits: LimitSettings) -> LimitSettings:
    """The global limits with the route's overrides on top."""
    if not route.limits:
        return limits
    changes: dict[str, Any] = dict(route.limits)
    return dataclasses.replace(limits, **changes)


def with_account(route: Route, profile: Profile | None, account: str) -> Route:
    """The route, its unset preset and model taken from the account's defaults (named for the
    account when no `routes:` entry matched, so the audit trail says where they came from)."""
    if profile is None or ((route.preset or not profile.preset) and (route.model or not profile.model)):
        return route
    name = f"account:{account}" if route is DEFAULT_ROUTE else route.name
    return dataclasses.replace(route, name=name, preset=route.preset or profile.preset,
                               model=route.model or profile.model)


class Routing:
    """Sets `ctx.route`; pure and cheap, so it runs before anything that reads a setting."""

    def __init__(self, routes: Sequence[Route], accounts: Accounts | None = None) -> None:
        self._routes = tuple(routes)
        self._accounts = accounts or Accounts()

    async def __call__(self, ctx: Context, call_next: Next) -> None:
        """Pick the route (its gaps filled by the account's defaults), continue."""
        incoming = ctx.incoming
        if self._routes:
            ctx.route = find_route(self._routes, incoming.platform, incoming.account,
                                   incoming.chat_key, incoming.user_id)
        profile = self._accounts.profile(incoming.platform, incoming.account)
        ctx.route = with_account(ctx.route, profile, f"{incoming.platform}/{incoming.account}")
        await call_next(ctx)
