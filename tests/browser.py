"""Headless Chromium for the page tests: its fixtures, the chat page, a user's actions, screenshots.

One Chromium serves a whole test module: a module marks itself `pytestmark = ON_MODULE_LOOP` and
imports `fake_openai` and `start_service` from here, which are conftest's on the module's loop
(Playwright's objects belong to the loop that made them). Each test still gets its own browser
context (no shared cookies or storage), its own service and its own fake LLM.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from adapters import webhook
from tests.conftest import API_KEY, ROOT, RunningService, StartService, service_starter, serving_fake_openai
from tests.fakes.openai import FakeOpenAI

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a downloaded browser build
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 10_000
ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
on_module_loop = pytest_asyncio.fixture(loop_scope="module")  # a per-test fixture, on that loop


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; skipped where it is not installed, unless this is CI."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """Headless Chromium driven by Playwright, one for the module."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield launched
        await launched.close()


@on_module_loop
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """conftest's fake OpenAI API, on the module's loop."""
    async with serving_fake_openai() as fake:
        yield fake


@on_module_loop
async def start_service(fake_openai: FakeOpenAI, tmp_path: Path) -> AsyncIterator[StartService]:
    """conftest's `start_service`, on the module's loop."""
    async with service_starter(fake_openai, tmp_path) as start:
        yield start


@on_module_loop
async def service(start_service: StartService, fake_openai: FakeOpenAI) -> RunningService:
    """The service with only the webhook adapter; the fake LLM streams in small pieces."""
    fake_openai.chunk_size = 3
    fake_openai.latency = 0.05
    return await start_service(adapters=[webhook.create])


@asynccontextmanager
async def open_page(browser: Browser, service: RunningService, path: str = "/",
                    size: tuple[int, int] = (900, 640)) -> AsyncIterator[Page]:
    """A page of the service (the chat page by default), freshly loaded, with no key stored yet;
    page errors (CSP refusals included) fail the test."""
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    opened = await context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    await opened.goto(f"{service.url}{path}")
    yield opened
    await context.close()
    assert not [p for p in problems if "401" not in p], problems  # a refused key logs a 401 itself


@on_module_loop
async def page(browser: Browser, service: RunningService) -> AsyncIterator[Page]:
    """The chat page of the plain service."""
    async with open_page(browser, service) as opened:
        yield opened


async def enter_key(page: Page, key: str = API_KEY) -> None:
    """Save an API key in the chat page's key bar and wait for the bar to go."""
    await page.fill("#key", key)
    await page.click("#save-key")
    await expect(page.locator("#keybar")).to_be_hidden()


async def send(page: Page, text: str) -> None:
    """Type `text` into the chat page's input and press Enter."""
    await page.fill("#input", text)
    await page.press("#input", "Enter")


async def enter_key_and_wait_for_presets(page: Page) -> None:
    """Enter the key, then wait until the preset picker has loaded the service's presets."""
    await enter_key(page)
    await expect(page.locator("#preset option[value=assistant]")).to_have_count(1)


def save_screenshot(png: bytes, name: str) -> None:
    """Into the test artefacts; into docs/ only when asked, so a test run leaves the tree clean."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        (ROOT / "docs" / "screenshots" / name).write_bytes(png)
