"""`/admin/api/*`: usage, users, presets, jobs and the audit trail, behind `BOT_ADMIN_KEYS`.

Every action that changes something (and every read of the audit trail) is itself recorded in
the audit trail, whether or not `audit.enabled` is on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Sequence

from aiohttp import web

from bot.admin.auth import AdminAuth
from bot.admin.page import AdminPage
from bot.admin.users import user_view
from bot.audit import parse_since
from bot.core import Core
from bot.errors import BadRequest, NotFound
from bot.pipeline.limits import blocked_key
from bot.usage.ledger import DIMENSIONS, days_between
from bot.usage.report import summarize

MAX_DAYS = 366
_PLATFORM = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def _date(request: web.Request, name: str, default: dt.date) -> dt.date:
    text = request.query.get(name, "")
    if not text:
        return default
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{name}' must be a date like 2024-05-01, got {text[:40]!r}") from None


def _integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name, "")
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}")
    return int(text)


class AdminAPI:
    """The handlers; `routes()` is everything under /admin."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._services = core.services
        self._auth = AdminAuth(core.services.settings.operator.admin_keys)
        self._page = AdminPage()

    def routes(self) -> Sequence[web.RouteDef]:
        """The page and the API paths of design.md section 6."""
        user = "/admin/api/users/{platform}/{id}"
        return [
            web.get("/admin", self._page.page),
            web.get("/admin/api/usage", self.usage),
            web.get(user, self.user),
            web.post(user + "/reset", self.reset),
            web.post(user + "/block", self.block),
            web.post(user + "/unblock", self.unblock),
            web.post("/admin/api/presets/reload", self.reload_presets),
            web.get("/admin/api/jobs", self.jobs),
            web.post("/admin/api/jobs/{id}/retry", self.retry_job),
            web.get("/admin/api/audit", self.audit),
        ]

    async def _act(self, request: web.Request, action: str, target: str = "") -> None:
        """Authenticate, then record the action (before it runs: an attempt is worth knowing)."""
        by = self._auth.check(request)
        await self._services.auditor.record("admin", always=True, action=action, target=target,
                                            by=by)

    async def usage(self, request: web.Request) -> web.Response:
        """`?from=&to=&by=user|chat|account|platform|model[&limit=]`: rows, totals, days, cost."""
        self._auth.check(request)
        today = dt.date.fromisoformat(self._core.ledger.today())
        last = _date(request, "to", today)
        first = _date(request, "from", last - dt.timedelta(days=6))
        by = request.query.get("by", "user")
        if by not in DIMENSIONS:
            raise BadRequest(f"'by' must be one of {', '.join(DIMENSIONS)}")
        if first > last:
            raise BadRequest("'from' must not be after 'to'")
        if (last - first).days >= MAX_DAYS:
            raise BadRequest(f"at most {MAX_DAYS} days at once")
        limit = _integer(request, "limit", 100, 1, 10_000)
        days = days_between(first, last)
        counts = await self._core.ledger.by_day(days, by)
        pricing = self._services.settings.operator.pricing
        return web.json_response(summarize(days, counts, pricing, by, top=limit))

    def _who(self, request: web.Request) -> tuple[str, str]:
        platform, user = request.match_info["platform"], request.match_info["id"]
        if not _PLATFORM.fullmatch(platform):
            raise BadRequest("'platform' must be 1-32 letters, digits, '.', '_' or '-'")
        if not 0 < len(user) <= 256:
            raise BadRequest("the user id must be 1-256 characters")
        return platform, user

    async def user(self, request: web.Request) -> web.Response:
        """One user's view."""
        self._auth.check(request)
        platform, user = self._who(request)
        return web.json_response(await user_view(self._core, platform, user))

    async def reset(self, request: web.Request) -> web.Response:
        """Forget the user's direct conversation (like their own /reset)."""
        platform, user = self._who(request)
        await self._act(request, "reset", f"{platform}:{user}")
        await self._services.storage.clear_history(f"{platform}:{user}")
        return web.json_response({"reset": True, "user": f"{platform}:{user}"})

    async def block(self, request: web.Request) -> web.Response:
        """From now on the user gets no answer, on every instance."""
        platform, user = self._who(request)
        await self._act(request, "block", f"{platform}:{user}")
        await self._services.storage.set(blocked_key(platform, user), "1")
        return web.json_response({"blocked": True, "user": f"{platform}:{user}"})

    async def unblock(self, request: web.Request) -> web.Response:
        """Lift an admin block (a block in config.yaml stays)."""
        platform, user = self._who(request)
        await self._act(request, "unblock", f"{platform}:{user}")
        await self._services.storage.delete(blocked_key(platform, user))
        configured = user in self._services.settings.limits.block.get(platform, ())
        return web.json_response({"blocked": configured, "user": f"{platform}:{user}"})

    async def reload_presets(self, request: web.Request) -> web.Response:
        """Re-read prompts/ here and on every other instance."""
        await self._act(request, "presets.reload")
        generation = await self._core.reloader.announce()
        return web.json_response({"reloaded": True, "generation": generation,
                                  "presets": self._services.presets.names()})

    async def jobs(self, request: web.Request) -> web.Response:
        """Pending, running and dead-letter jobs."""
        self._auth.check(request)
        limit = _integer(request, "limit", 100, 1, 1000)
        found = await self._services.jobs.inspect(limit)
        return web.json_response({"kind": self._services.jobs.kind, **{
            state: [dataclasses.asdict(job) for job in jobs] for state, jobs in found.items()}})

    async def retry_job(self, request: web.Request) -> web.Response:
        """Queue a dead letter again."""
        job_id = request.match_info["id"]
        await self._act(request, "jobs.retry", job_id)
        if not await self._services.jobs.retry(job_id):
            raise NotFound(f"no dead letter with id {job_id[:64]!r}")
        return web.json_response({"retried": True, "id": job_id})

    async def audit(self, request: web.Request) -> web.StreamResponse:
        """`?user=&q=&since=[&limit=]` newest first as JSON, or `&format=jsonl` to export
        everything since `since`, oldest first, one JSON object a line."""
        user, q = request.query.get("user", "")[:300], request.query.get("q", "")[:300]
        try:
            since = parse_since(request.query.get("since") or "0")
        except ValueError:
            raise BadRequest("'since' must be a date (2024-05-01), a date-time or Unix seconds") from None
        jsonl = request.query.get("format", "json")
        if jsonl not in ("json", "jsonl"):
            raise BadRequest("'format' must be json or jsonl")
        limit = _integer(request, "limit", 100, 1, 1000)
        await self._act(request, "audit.export" if jsonl == "jsonl" else "audit.search",
                        json.dumps({"user": user, "q": q, "since": since}, ensure_ascii=False))
        auditor = self._services.auditor
        if jsonl == "json":
            return web.json_response({"entries": await auditor.search(user, q, since, limit)})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson; charset=utf-8"})
        await response.prepare(request)
        async for entry in auditor.export(since):
            await response.write((json.dumps(entry, ensure_ascii=False) + "\n").encode())
        await response.write_eof()
        return response


def admin_routes(core: Core) -> Sequence[web.RouteDef]:
    """The admin plane's routes, or none when no `BOT_ADMIN_KEYS` are set (everything 404)."""
    if not core.services.settings.operator.admin_keys:
        return []
    return AdminAPI(core).routes()
