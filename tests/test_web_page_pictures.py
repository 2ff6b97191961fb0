"""/image answers on the web page, in Chromium: shown as pictures, only PNG, JPEG or WebP data
URLs within a size cap, never SVG or HTML."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
from playwright.async_api import Page, expect

from bot.texts import DEFAULTS
from tests.browser import (
    ON_MODULE_LOOP,
    browser,
    chromium,
    enter_key_and_wait_for_presets,
    fake_openai,
    page,
    save_screenshot,
    send,
    service,
    start_service,
)
from tests.fakes.openai import FakeOpenAI

__all__ = ["browser", "chromium", "fake_openai", "page", "service", "start_service"]  # its fixtures
pytestmark = ON_MODULE_LOOP


def square_png(size: int = 96, rgb: tuple[int, int, int] = (220, 60, 40)) -> bytes:
    """A plain square PNG (stdlib only), big enough to see in a screenshot."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def test_image_command_answer_is_shown_as_a_picture(
    page: Page, fake_openai: FakeOpenAI
) -> None:
    fake_openai.picture_b64 = base64.b64encode(square_png()).decode()
    await enter_key_and_wait_for_presets(page)
    await send(page, "/image a red square")
    picture = page.locator(".msg.bot img.picture")
    await expect(picture).to_have_count(1)
    assert await picture.evaluate("img => img.complete && img.naturalWidth") == 96
    assert (await picture.get_attribute("src") or "").startswith("data:image/png;base64,")
    bubble = page.locator(".msg.bot").last
    await expect(bubble).to_contain_text(DEFAULTS["image_done"])
    assert "base64" not in await bubble.inner_text()  # the picture, not its bytes as text
    png = await page.screenshot(full_page=True)
    save_screenshot(png, "web-image.png")


@pytest.mark.parametrize("url", [
    "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9ImFsZXJ0KDEpIi8+",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/png,notbase64",
    "javascript:alert(1)",
])
async def test_only_png_jpeg_or_webp_data_urls_become_pictures(
    page: Page, fake_openai: FakeOpenAI, url: str
) -> None:
    fake_openai.reply = lambda body: f"Look: ![x]({url}) done"
    await enter_key_and_wait_for_presets(page)
    await send(page, "show me")
    await expect(page.locator(".msg.bot").last).to_contain_text("done")
    assert await page.locator(".msg.bot img").count() == 0
    assert await page.locator(".msg.bot a").count() == 0


async def test_a_picture_over_the_size_cap_is_not_shown(
    page: Page, fake_openai: FakeOpenAI
) -> None:
    fake_openai.chunk_size = 10_000_000  # one delta: the point is the size, not the streaming
    fake_openai.reply = lambda body: "![x](data:image/png;base64," + "A" * (8 * 1024 * 1024) + ")"
    await enter_key_and_wait_for_presets(page)
    await send(page, "big")
    await expect(page.locator(".msg.bot").last).to_have_text("[picture not shown]")
    assert await page.locator(".msg.bot img").count() == 0
