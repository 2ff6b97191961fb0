"""The web chat page in a real headless Chromium, against the running service and the fake LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from adapters import webhook
from bot.texts import DEFAULTS
from tests.browser import (
    ON_MODULE_LOOP,
    browser,
    chromium,
    enter_key,
    enter_key_and_wait_for_presets,
    fake_openai,
    on_module_loop,
    open_page,
    page,
    save_screenshot,
    send,
    service,
    start_service,
)
from tests.conftest import RunningService, StartService, base_config
from tests.fakes.openai import FakeOpenAI

__all__ = ["browser", "chromium", "fake_openai", "page", "service", "start_service"]  # its fixtures
pytestmark = ON_MODULE_LOOP

SHOWCASE_ANSWER = (
    "Open it with `with`, then loop over it:\n\n"
    "```python\nwith open(\"notes.txt\", encoding=\"utf-8\") as f:\n"
    "    for line in f:\n        print(line.rstrip())\n```\n\n"
    "- the file is **closed** for you, even on errors\n- lines are read *lazily*, so big files are fine\n\n"
    "See [the tutorial](https://docs.python.org/3/tutorial/inputoutput.html)."
)
CODE_ANSWER = "Here is the code:\n\n```python\nprint('hi')\n```\n\nIt **prints** a greeting."


@on_module_loop
async def moderated_page(browser: Browser, start_service: StartService, fake_openai: FakeOpenAI,
                         tmp_path: Path) -> AsyncIterator[Page]:
    """The chat page of a service with a term list and the OpenAI moderation endpoint on."""
    fake_openai.chunk_size, fake_openai.chunk_delay = 3, 0.05
    words = tmp_path / "words.txt"
    words.write_text("confidential\n", encoding="utf-8")
    config = base_config(moderation={"words_file": str(words), "openai": True})
    service = await start_service(config=config, adapters=[webhook.create])
    async with open_page(browser, service) as opened:
        yield opened


RECORD_RENDERS = """() => {
    window.renders = [];
    new MutationObserver(() => {
        for (const bubble of document.querySelectorAll(".msg.bot"))
            window.renders.push(bubble.textContent);
    }).observe(document.getElementById("messages"),
               {childList: true, subtree: true, characterData: true});
}"""


async def test_first_visit_asks_for_the_key(page: Page) -> None:
    await expect(page.locator("#keybar")).to_be_visible()


async def test_streamed_answer_appears(page: Page) -> None:
    await enter_key(page)
    await send(page, "hello browser")
    await expect(page.locator(".msg.user")).to_have_text("hello browser")
    await expect(page.locator(".msg.bot").last).to_have_text("You said: hello browser")
    await expect(page.locator(".msg.bot.streaming")).to_have_count(0)


async def test_answer_is_rendered_piece_by_piece(page: Page) -> None:
    await enter_key(page)
    # Record what the answer bubble showed at each render, whatever the network batching.
    await page.evaluate("""() => {
        window.renders = [];
        new MutationObserver((records) => {
            for (const r of records) {
                if (r.target.classList && r.target.classList.contains("bot") && r.addedNodes.length)
                    window.renders.push(Array.from(r.addedNodes, (n) => n.textContent).join(""));
            }
        }).observe(document.getElementById("messages"), {childList: true, subtree: true});
    }""")
    await send(page, "a fairly long message to stream")
    await expect(page.locator(".msg.bot").last).to_have_text("You said: a fairly long message to stream")
    renders: list[str] = await page.evaluate("window.renders")
    assert len(renders) > 5
    assert all("You said: a fairly long message to stream".startswith(r) for r in renders)


async def test_code_block_renders_as_pre_code(page: Page, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = lambda body: CODE_ANSWER
    await enter_key(page)
    await send(page, "show me code")
    await expect(page.locator(".msg.bot pre code.language-python")).to_have_text("print('hi')")
    await expect(page.locator(".msg.bot strong")).to_have_text("prints")


async def test_html_from_the_model_is_shown_as_text(page: Page, fake_openai: FakeOpenAI) -> None:
    fake_openai.reply = lambda body: "<img src=x onerror=alert(1)> [x](javascript:alert(1))"
    await enter_key(page)
    await send(page, "inject")
    answer = page.locator(".msg.bot").last
    await expect(answer).to_have_text("<img src=x onerror=alert(1)> [x](javascript:alert(1))")
    await expect(answer.locator("img, a")).to_have_count(0)


async def test_reset_shows_the_confirmation(page: Page, fake_openai: FakeOpenAI) -> None:
    await enter_key(page)
    await send(page, "remember me")
    await expect(page.locator(".msg.bot").last).to_have_text("You said: remember me")
    await page.click("#reset")
    await expect(page.locator(".msg.bot").last).to_have_text(
        "Done: I have forgotten our conversation.")


async def test_preset_picker_offers_the_service_presets(page: Page, service: RunningService) -> None:
    await enter_key_and_wait_for_presets(page)
    options = page.locator("#preset option")
    await expect(options).to_have_text(service.services.presets.names())
    await expect(page.locator("#preset")).to_have_value(service.services.presets.default)


async def test_choosing_a_preset_switches_to_it(
    page: Page, service: RunningService, fake_openai: FakeOpenAI
) -> None:
    await enter_key_and_wait_for_presets(page)
    await page.select_option("#preset", "translator")
    await expect(page.locator(".msg.bot").last).to_have_text(
        "Switched to preset “translator”. History was cleared.")
    await send(page, "你好")
    await expect(page.locator(".msg.bot").last).to_have_text("You said: 你好")
    system = fake_openai.chat_calls[-1]["messages"][0]["content"]
    assert system == service.services.presets.get("translator").render({})


async def test_wrong_key_shows_a_readable_error_line(page: Page) -> None:
    await enter_key(page, "not-the-key")
    await send(page, "hello")
    error = page.locator(".msg.error").last
    await expect(error).to_contain_text("refused the API key (HTTP 401")
    await expect(error).to_contain_text("Check the key")


async def test_llm_failure_shows_an_error_line(page: Page, fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next = [500]
    await enter_key(page)
    await send(page, "hello")
    await expect(page.locator(".msg.error")).to_have_count(1)
    await expect(page.locator(".msg.error")).not_to_have_text("")


async def test_a_term_split_across_deltas_is_never_rendered(
    moderated_page: Page, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "The file is confidential, keep it so."
    await enter_key(moderated_page)
    await moderated_page.evaluate(RECORD_RENDERS)
    await send(moderated_page, "what is it?")
    await expect(moderated_page.locator(".msg.bot").last).to_have_text(
        "The file is ************, keep it so.")
    renders: list[str] = await moderated_page.evaluate("window.renders")
    fragments = {"confidential"[i:i + 3] for i in range(10)}
    assert len(renders) > 5
    assert not any(fragment in render for render in renders for fragment in fragments)


async def test_an_answer_withdrawn_after_streaming_leaves_only_the_refusal(
    moderated_page: Page, fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply = lambda body: "Here is some dangerous advice for you."
    fake_openai.flagged_phrases = {"dangerous advice"}
    await enter_key(moderated_page)
    await moderated_page.evaluate(RECORD_RENDERS)
    await send(moderated_page, "tell me")
    await expect(moderated_page.locator(".msg.bot").last).to_have_text(
        DEFAULTS["moderation_output"])
    renders: list[str] = await moderated_page.evaluate("window.renders")
    assert any("dangerous" in render for render in renders)  # it streamed, then was replaced
    await expect(moderated_page.locator(".msg.bot")).to_have_count(1)


async def test_key_is_remembered_after_a_reload(page: Page) -> None:
    await enter_key_and_wait_for_presets(page)
    await page.reload()
    await expect(page.locator("#preset option[value=assistant]")).to_have_count(1)
    await expect(page.locator("#keybar")).to_be_hidden()


async def test_screenshot_of_a_conversation(page: Page, fake_openai: FakeOpenAI) -> None:
    replies = iter(["You said: hello", SHOWCASE_ANSWER])
    fake_openai.reply = lambda body: next(replies)
    await enter_key_and_wait_for_presets(page)
    await send(page, "hello")
    await expect(page.locator(".msg.bot").last).to_have_text("You said: hello")
    await send(page, "How do I read a file line by line in Python?")
    await expect(page.locator(".msg.bot pre code")).to_have_count(1)
    await page.click("#reset")
    await expect(page.locator(".msg.bot").last).to_have_text("Done: I have forgotten our conversation.")
    png = await page.screenshot(full_page=True)
    assert len(png) > 10_000
    save_screenshot(png, "web-chat.png")
