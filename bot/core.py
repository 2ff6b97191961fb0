"""The process's parts: what adapters are handed (`Services`) and what only the core uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from bot.accounts import Accounts
from bot.audit import Auditor
from bot.jobs import open_jobs
from bot.llm import LLMClient, OpenAILLM
from bot.metrics import Metrics
from bot.moderation import Moderation
from bot.pipeline import Pipeline, build_steps
from bot.platform import Services
from bot.prompts import Presets
from bot.reload import PresetReloader
from bot.settings import Settings
from bot.storage import open_storage
from bot.tasks import TaskOwner
from bot.texts import Texts
from bot.tools.setup import build_tools
from bot.usage import UsageLedger

if TYPE_CHECKING:
    from bot.knowledge.base import KnowledgeBase
    from bot.tools.mcp import McpHub


@dataclass(frozen=True, slots=True)
class Core:
    """Created once per process: `services` for the adapters, the rest for the app, the admin
    plane and the CLI (the LLM client is reached through the pipeline, usage through the ledger)."""

    services: Services
    llm: LLMClient
    metrics: Metrics
    ledger: UsageLedger  # the day's usage counters (the admin API reads them)
    reloader: PresetReloader
    knowledge: KnowledgeBase | None = None
    mcp: McpHub | None = None


async def create_core(settings: Settings) -> Core:
    """Build the process-wide parts; call inside the running event loop."""
    metrics = Metrics()
    storage = open_storage(settings.storage)
    llm = OpenAILLM(settings.llm, metrics)
    presets = Presets.load(settings.prompts_dir, settings.default_prompt)
    texts = Texts(settings.texts)
    ledger = UsageLedger(storage, settings.operator.usage_retention_days)
    auditor = Auditor(storage, settings.operator.audit)
    knowledge = None
    if settings.knowledge.enabled:
        from bot.knowledge.base import KnowledgeBase  # numpy only for services that use it

        knowledge = KnowledgeBase(settings.knowledge, storage, llm)
    tools, mcp = build_tools(settings, llm, texts, knowledge)
    # One session for every platform API and the relay; aiohttp's default of 100 connections
    # would cap the relay at 50 msg/s with a 2 s upstream.
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=10),
                                 connector=aiohttp.TCPConnector(limit=1024))
    moderation = Moderation(settings.moderation, storage, llm, http, metrics)
    try:
        await moderation.start()
    except BaseException:  # a bad words file: release what was opened, then fail start-up
        await http.close()
        await llm.close()
        await storage.close()
        raise
    accounts = Accounts()  # filled by the adapters as they are built
    pipeline = Pipeline(build_steps(settings, storage, llm, presets, texts, metrics, moderation,
                                    ledger, auditor, knowledge, tools, accounts), texts)
    tasks = TaskOwner()
    jobs = open_jobs(settings.storage, tasks)
    if mcp is not None:
        mcp.start()  # tools appear as their servers connect; start-up never waits for them
    services = Services(settings, storage, pipeline, presets, tasks, jobs, texts, http, moderation,
                        auditor, accounts)
    return Core(services, llm, metrics, ledger, PresetReloader(presets, storage), knowledge, mcp)


async def close_core(core: Core, drain_seconds: float) -> None:
    """Finish background work within the bound, then release every client."""
    services = core.services
    await services.tasks.drain(drain_seconds)
    if core.mcp is not None:
        await core.mcp.close()
    await services.moderation.stop()
    await core.llm.close()
    await services.http.close()
    await services.storage.close()
