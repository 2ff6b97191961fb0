"""`GET /` serves the chat page; `GET /api/presets` lists the presets it offers."""

from __future__ import annotations

import base64
import hashlib
import re

from adapters import webhook
from adapters.webhook.page import PAGE
from tests.conftest import RunningService, StartService


async def start(start_service: StartService, env: dict[str, str] | None = None) -> RunningService:
    return await start_service(env=env, adapters=[webhook.create])


async def test_root_serves_the_chat_page_without_a_key(start_service: StartService) -> None:
    service = await start(start_service)
    async with service.http.get(f"{service.url}/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "<title>imbot · web chat</title>" in await response.text()


async def test_page_needs_nothing_from_outside_the_service() -> None:
    html = PAGE.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html


async def test_page_policy_allows_exactly_its_own_inline_script(start_service: StartService) -> None:
    service = await start(start_service)
    script = re.search(r"<script>(.*?)</script>", PAGE.read_text(encoding="utf-8"), re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    async with service.http.get(f"{service.url}/") as response:
        policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy


async def test_presets_lists_every_preset_with_its_description(start_service: StartService) -> None:
    service = await start(start_service)
    async with service.http.get(f"{service.url}/api/presets", headers=service.auth()) as response:
        assert response.status == 200
        body = await response.json()
    presets = service.services.presets
    assert body == [{"name": name, "description": presets.get(name).description,
                     "default": name == presets.default} for name in presets.names()]


async def test_presets_without_a_bearer_key_is_401(start_service: StartService) -> None:
    service = await start(start_service)
    async with service.http.get(f"{service.url}/api/presets") as response:
        assert response.status == 401
        assert "bearer" in (await response.json())["error"]["message"].lower()


async def test_presets_with_a_wrong_key_is_401(start_service: StartService) -> None:
    service = await start(start_service)
    async with service.http.get(f"{service.url}/api/presets",
                                headers=service.auth("wrong")) as response:
        assert response.status == 401


async def test_presets_refuse_everyone_when_no_keys_are_configured(
    start_service: StartService,
) -> None:
    service = await start(start_service, env={"BOT_API_KEYS": ""})
    async with service.http.get(f"{service.url}/api/presets", headers=service.auth("")) as response:
        assert response.status == 403
