"""The aiohttp application: shared services, adapters' routes, health, metrics, error answers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import aiohttp
from aiohttp import web

from bot.errors import BotError, StorageUnavailable
from bot.jobs import open_jobs
from bot.llm import OpenAILLM
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.pipeline import Pipeline, build_steps
from bot.platform import Adapter, AdapterFactory, Services
from bot.prompts import Presets
from bot.settings import Settings
from bot.storage import open_storage
from bot.tasks import TaskOwner
from bot.texts import Texts
from bot.tools.setup import build_tools

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
ADAPTERS = web.AppKey("adapters", tuple)
DRAIN_SECONDS = 20.0  # in-flight answers may finish this long after SIGTERM

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def create_services(settings: Settings) -> Services:
    """Build the process-wide parts; call inside the running event loop."""
    metrics = Metrics()
    storage = open_storage(settings.storage)
    llm = OpenAILLM(settings.llm, metrics)
    presets = Presets.load(settings.prompts_dir, settings.default_prompt)
    texts = Texts(settings.texts)
    knowledge = None
    if settings.knowledge.enabled:
        from bot.knowledge.base import KnowledgeBase  # numpy only for services that use it

        knowledge = KnowledgeBase(settings.knowledge, storage, llm)
    tools, mcp = build_tools(settings, llm, texts, knowledge)
    pipeline = Pipeline(build_steps(settings, storage, llm, presets, texts, metrics,
                                    knowledge=knowledge, tools=tools))
    # One session for every platform API and the relay; aiohttp's default of 100 connections
    # would cap the relay at 50 msg/s with a 2 s upstream.
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=10),
                                 connector=aiohttp.TCPConnector(limit=1024))
    tasks = TaskOwner()
    jobs = open_jobs(settings.storage, tasks)
    if mcp is not None:
        mcp.start()  # tools appear as their servers connect; start-up never waits for them
    return Services(settings, storage, llm, pipeline, presets, tasks, jobs, metrics, texts, http,
                    knowledge, mcp)


async def close_services(services: Services, drain_seconds: float = DRAIN_SECONDS) -> None:
    """Finish background work within the bound, then release every client."""
    await services.tasks.drain(drain_seconds)
    if services.mcp is not None:
        await services.mcp.close()
    await services.llm.close()
    await services.http.close()
    await services.storage.close()


def make_adapters(services: Services, factories: Sequence[AdapterFactory]) -> tuple[Adapter, ...]:
    """Instantiate the configured adapters (a factory returns None when its platform is off)."""
    built = (factory(services) for factory in factories)
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


async def healthz(request: web.Request) -> web.Response:
    """Serving: always 200; `status` says degraded when storage is down."""
    services = request.app[SERVICES]
    storage: dict[str, object] = {"kind": services.storage.kind, "ok": True}
    try:
        await services.storage.ping()
    except StorageUnavailable as exc:
        storage.update(ok=False, error=str(exc).split(":", 1)[0] + ": unreachable")
    return web.json_response({
        "status": "ok" if storage["ok"] else "degraded",
        "storage": storage,
        "adapters": [adapter.name for adapter in request.app[ADAPTERS]],
        "background_tasks": len(services.tasks),
    })


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    body = request.app[SERVICES].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(
    services: Services, adapters: Sequence[Adapter], drain_seconds: float = DRAIN_SECONDS
) -> web.Application:
    """The application; its cleanup drains background work and closes every client."""
    app = web.Application(
        client_max_size=services.settings.server.max_body_bytes,
        middlewares=[count_requests(services.metrics), errors_to_json],
    )
    app[SERVICES] = services
    app[ADAPTERS] = tuple(adapters)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    for adapter in adapters:
        app.router.add_routes(adapter.routes())

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        for adapter in adapters:
            await adapter.start()
        await services.jobs.start()
        yield
        # Stop taking jobs first: what is not finished in time stays queued for another instance.
        await services.jobs.stop(drain_seconds)
        await services.tasks.drain(drain_seconds)
        for adapter in adapters:
            await adapter.close()
        await close_services(services, drain_seconds)

    app.cleanup_ctx.append(lifecycle)
    return app
