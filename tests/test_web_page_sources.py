"""The web chat page lists the documents an answer cites, under the answer (real Chromium)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from adapters import webhook
from bot.knowledge.sync import Syncer
from tests.browser import (
    ON_MODULE_LOOP,
    TIMEOUT_MS,
    browser,
    chromium,
    enter_key,
    fake_openai,
    send,
    start_service,
)
from tests.conftest import StartService, base_config
from tests.documents import write_library
from tests.fakes.openai import FakeOpenAI

__all__ = ["browser", "chromium", "fake_openai", "start_service"]  # the fixtures this module uses
pytestmark = ON_MODULE_LOOP


async def test_the_page_lists_the_cited_sources_as_links(
    browser: Browser, start_service: StartService, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    write_library(folder)
    fake_openai.reply = lambda body: "Within 30 days [1]."
    config = base_config(knowledge={"dir": str(folder), "links": "https://docs.example.com"})
    service = await start_service(config=config, adapters=[webhook.create])
    kb = service.core.knowledge
    assert kb is not None
    await Syncer(kb.settings, kb.store, service.core.llm).run(folder)
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{service.url}/")
    await enter_key(page)
    await send(page, "When are refunds paid to my card?")
    link = page.locator(".msg.bot .sources li a")
    await expect(link).to_have_text("handbook.md › Handbook › Refunds")
    await expect(link).to_have_attribute("href", "https://docs.example.com/handbook.md")
    await context.close()
