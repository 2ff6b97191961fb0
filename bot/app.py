"""The aiohttp application: shared services, adapters' routes, health, metrics, error answers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web

from bot.admin import admin_routes
from bot.core import Core, close_core
from bot.errors import BotError, StorageUnavailable
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.platform import Adapter, AdapterFactory, ConnectionHealth, Services

log = logging.getLogger(__name__)

CORE = web.AppKey("core", Core)
ADAPTERS = web.AppKey("adapters", tuple)
DRAIN_SECONDS = 20.0  # in-flight answers may finish this long after SIGTERM

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_adapters(services: Services, factories: Sequence[AdapterFactory]) -> tuple[Adapter, ...]:
    """Instantiate the configured adapters (a factory returns None when its platform is off)."""
    built = tuple(factory(services) for factory in factories)
    services.texts.check()  # the root `texts:`, now that every adapter registered its own
    return tuple(adapter for adapter in built if adapter is not None)


def error_body(status: int, message: str, kind: str) -> web.Response:
    """The JSON shape of every error answer."""
    return web.json_response({"error": {"message": message, "type": kind}}, status=status)


@web.middleware
async def errors_to_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The HTTP layer's single catch point: our errors and aiohttp's become JSON answers."""
    try:
        return await handler(request)
    except BotError as exc:
        kind = type(exc).__name__
        message = str(exc) if exc.status < 500 else "the service could not complete the request"
        if exc.status >= 500:
            log.warning("%s %s failed: %s: %s", request.method, request.path, kind, exc)
        return error_body(exc.status, message, kind)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_body(exc.status, exc.reason, "HTTPError")
    except Exception:  # a bug: log it in full, answer without any detail
        log.exception("%s %s failed", request.method, request.path)
        return error_body(500, "internal error", "InternalError")


def count_requests(metrics: Metrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware counting requests by route template (never the raw path) and status."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        endpoint = resource.canonical if resource is not None else "unmatched"
        response = await handler(request)
        metrics.requests.labels(endpoint, str(response.status)).inc()
        return response

    return middleware


async def _storage_state(services: Services) -> dict[str, object]:
    storage: dict[str, object] = {"kind": services.storage.kind, "ok": True,
                                  "feed": services.storage.feed_connected}
    try:
        await services.storage.ping()
    except StorageUnavailable as exc:
        storage.update(ok=False, error=str(exc).split(":", 1)[0] + ": unreachable")
    return storage


def connections(app: web.Application) -> list[ConnectionHealth]:
    """Every adapter's long connections (the adapters report them; the core knows no platform)."""
    return [health for adapter in app[ADAPTERS] for health in adapter.health()]


async def healthz(request: web.Request) -> web.Response:
    """Serving: 200, `status` degraded while storage or a long connection is down; 503 when the
    job consumer is stuck (storage answers, yet it stopped reading): a restart is what helps then."""
    services = request.app[CORE].services
    storage = await _storage_state(services)
    jobs = services.jobs.health()
    links = connections(request.app)
    healthy = storage["ok"] and all(link.up for link in links)
    status = "unhealthy" if jobs.stuck else ("ok" if healthy else "degraded")
    return web.json_response({
        "status": status,
        "storage": storage,
        "jobs": jobs.as_dict(),
        "connections": [{"name": link.name, "state": link.state,
                         "last_event_age": link.last_event_age} for link in links],
        "adapters": [adapter.name for adapter in request.app[ADAPTERS]],
        "background_tasks": len(services.tasks),
    }, status=503 if jobs.stuck else 200)


async def livez(request: web.Request) -> web.Response:
    """200 while the process and its event loop respond (this answer is the proof)."""
    return web.json_response({"live": True})


async def readyz(request: web.Request) -> web.Response:
    """200 only when storage is reachable, the job consumer reads, changes reach us and every
    configured long connection is connected."""
    services = request.app[CORE].services
    storage = await _storage_state(services)
    jobs = services.jobs.health()
    reasons = [reason for reason, failed in (
        ("storage unreachable", not storage["ok"]),
        ("storage change feed disconnected", storage["ok"] and not storage["feed"]),
        (f"job consumer {jobs.state}", jobs.state != "reading"),
        ("job consumer stuck", jobs.stuck),
    ) if failed]
    reasons += [f"long connection {link.name} {link.state}" for link in connections(request.app)
                if not link.up]
    if reasons:
        return web.json_response({"ready": False, "reasons": reasons}, status=503)
    return web.json_response({"ready": True})


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus text exposition (the long connections' gauges read as of now)."""
    metrics = request.app[CORE].metrics
    metrics.connections(connections(request.app))
    body = metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(
    core: Core, adapters: Sequence[Adapter], drain_seconds: float = DRAIN_SECONDS
) -> web.Application:
    """The application; its cleanup drains background work and closes every client."""
    services = core.services
    app = web.Application(
        client_max_size=services.settings.server.max_body_bytes,
        middlewares=[count_requests(core.metrics), errors_to_json],
    )
    app[CORE] = core
    app[ADAPTERS] = tuple(adapters)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_routes(admin_routes(core))  # none without BOT_ADMIN_KEYS: /admin is 404
    for adapter in adapters:
        app.router.add_routes(adapter.routes())

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await services.storage.start()
        for adapter in adapters:
            await adapter.start()
        await services.jobs.start()
        await core.reloader.start()
        yield
        await core.reloader.stop()
        # Stop taking jobs first: what is not finished in time stays queued for another instance.
        await services.jobs.stop(drain_seconds)
        await services.tasks.drain(drain_seconds)
        for adapter in adapters:
            await adapter.close()
        await close_core(core, drain_seconds)

    app.cleanup_ctx.append(lifecycle)
    return app
