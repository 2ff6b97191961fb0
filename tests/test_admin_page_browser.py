"""The admin page in a real headless Chromium, against the running service and the fake LLM."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import partial

from playwright.async_api import Browser, Page, expect

from adapters import webhook
from bot.usage import Meter, UsageLedger, Who
from tests.admin_helpers import ADMIN_KEY, admin_get, ask
from tests.browser import (
    ON_MODULE_LOOP,
    browser,
    chromium,
    fake_openai,
    on_module_loop,
    open_page,
    save_screenshot,
    start_service,
)
from tests.conftest import RunningService, StartService, base_config

__all__ = ["browser", "chromium", "fake_openai", "start_service"]  # shared with the chat page's test
pytestmark = ON_MODULE_LOOP


def days_ago(days: int) -> float:
    return time.time() - days * 86400


@on_module_loop
async def service(start_service: StartService) -> RunningService:
    """The webhook adapter, admin keys, a price, the audit on, and some traffic to show."""
    config = base_config(pricing={"gpt-4o-mini": {"input_per_1m": 150, "output_per_1m": 600}},
                         audit={"enabled": True}, limits={"tokens_per_user_per_day": 5000})
    running = await start_service(config=config, env={"BOT_ADMIN_KEYS": ADMIN_KEY},
                                  adapters=[webhook.create])
    for user, count in (("alice", 4), ("bob", 2), ("carol", 1)):
        for n in range(count):
            await ask(running, user, f"question {n} from {user}", stream=n % 2 == 1)
    return running


@on_module_loop
async def page(browser: Browser, service: RunningService) -> AsyncIterator[Page]:
    """The admin page, freshly loaded; page errors (CSP refusals included) fail the test."""
    async with open_page(browser, service, "/admin", (1100, 900)) as opened:
        yield opened


async def enter_key(page: Page, key: str = ADMIN_KEY) -> None:
    await page.fill("#key", key)
    await page.click("#save-key")
    await expect(page.locator("#keybar")).to_be_hidden()


async def test_first_visit_asks_for_the_admin_key(page: Page) -> None:
    await expect(page.locator("#keybar")).to_be_visible()


async def test_the_usage_chart_is_drawn_by_the_chart_library(page: Page) -> None:
    await enter_key(page)
    await expect(page.locator("#chart .uplot canvas")).to_have_count(1)
    await expect(page.locator("#chart .u-legend")).to_contain_text("tokens in")


async def test_totals_show_messages_and_cost(page: Page, service: RunningService) -> None:
    totals = (await admin_get(service, "/admin/api/usage?by=user"))["totals"]
    await enter_key(page)
    cards = page.locator("#totals .card")
    await expect(cards.filter(has_text="messages").locator("b")).to_have_text("7")
    await expect(cards.filter(has_text="cost").locator("b")).to_have_text(f"{totals['cost']:.4f}")


async def test_top_users_are_ranked_by_tokens(page: Page) -> None:
    await enter_key(page)
    rows = page.locator("#top-users tbody tr td:first-child")
    await expect(rows).to_have_text(["webhook:alice", "webhook:bob", "webhook:carol"])


async def test_a_user_lookup_shows_the_user_and_blocks_them(
    page: Page, service: RunningService
) -> None:
    await enter_key(page)
    await page.fill("#lookup-id", "alice")
    await page.click("#lookup-form button")
    facts = page.locator("#user-facts")
    await expect(facts).to_contain_text("8 turns")
    await expect(facts).to_contain_text("left today")
    await page.click("#user-block")
    await expect(page.locator("#status")).to_have_text("Blocked.")
    await expect(facts.locator("dd").nth(1)).to_have_text("yes")
    assert await service.services.storage.get("blocked:webhook:alice") == "1"


async def test_reset_from_the_page_clears_the_history(page: Page) -> None:
    await enter_key(page)
    await page.fill("#lookup-id", "bob")
    await page.click("#lookup-form button")
    await page.click("#user-reset")
    await expect(page.locator("#user-facts")).to_contain_text("0 turns")


async def test_the_audit_search_lists_what_was_said(page: Page) -> None:
    await enter_key(page)
    await page.fill("#audit-user", "webhook:carol")
    await page.click("#audit-form button")
    texts = page.locator("#audit tbody tr td:nth-child(4)")
    await expect(texts).to_have_text(["You said: question 0 from carol", "question 0 from carol"])


async def test_a_wrong_key_is_reported_and_asked_again(page: Page) -> None:
    await page.fill("#key", "not-the-key")
    await page.click("#save-key")
    await expect(page.locator("#status")).to_contain_text("refused the admin key (HTTP 401)")
    await expect(page.locator("#keybar")).to_be_visible()


async def seed_earlier_days(service: RunningService, days: int = 20) -> None:
    """Earlier days' traffic, written by the ledger itself with its clock set back."""
    for back in range(1, days):
        ledger = UsageLedger(service.services.storage, 90, clock=partial(days_ago, back))
        for n in range(1 + (back * 7) % 5):
            meter = Meter()
            meter.add("gpt-4o-mini", **{"in": 900 + 40 * back, "out": 300 + 25 * ((back + n) % 6)})
            await ledger.record(Who("feishu", f"ou_{n}", "oc_team"), meter)


async def test_screenshot_of_the_admin_page(page: Page, service: RunningService) -> None:
    await seed_earlier_days(service)
    await enter_key(page)
    await expect(page.locator("#chart .uplot canvas")).to_have_count(1)
    await expect(page.locator("#top-users tbody tr")).to_have_count(8)
    await page.fill("#lookup-id", "alice")
    await page.click("#lookup-form button")
    await expect(page.locator("#user-facts")).to_contain_text("turns")
    await expect(page.locator("#jobs tbody")).to_contain_text("no jobs")
    await page.fill("#audit-user", "webhook:carol")
    await page.click("#audit-form button")
    await expect(page.locator("#audit tbody tr")).to_have_count(2)
    png = await page.screenshot(full_page=True)
    assert len(png) > 10_000
    save_screenshot(png, "admin.png")
