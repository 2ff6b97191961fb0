"""Helpers shared by the operator-plane tests: talk to /api/chat and /admin/api."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningService

ADMIN_KEY = "admin-test-key-9"


def admin(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def ask(service: RunningService, user: str, text: str = "hi", stream: bool = False) -> str:
    """One /api/chat message; the reply text (the NDJSON body when streamed)."""
    async with service.http.post(f"{service.url}/api/chat", headers=service.auth(),
                                 json={"user": user, "text": text, "stream": stream}) as response:
        if stream:
            return await response.text()
        body: dict[str, Any] = await response.json()
        return str(body.get("reply", body))


async def admin_get(service: RunningService, path: str, key: str = ADMIN_KEY) -> Any:
    async with service.http.get(f"{service.url}{path}", headers=admin(key)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def admin_post(service: RunningService, path: str, key: str = ADMIN_KEY) -> Any:
    async with service.http.post(f"{service.url}{path}", headers=admin(key)) as response:
        assert response.status == 200, await response.text()
        return await response.json()
