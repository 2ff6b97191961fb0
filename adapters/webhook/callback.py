"""Asynchronous mode: the answer is POSTed, signed, to the callback URL set in config only."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import aiohttp

from adapters.webhook.signing import signed_headers

log = logging.getLogger(__name__)

ATTEMPTS = 6
FIRST_DELAY = 1.0


class CallbackSender:
    """Delivers one JSON payload with retries and jittered exponential backoff."""

    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str,
                 first_delay: float = FIRST_DELAY) -> None:
        self._http = http
        self._url = url  # from config only: a request can never choose where we POST (no SSRF)
        self._secret = secret
        self._first_delay = first_delay

    async def deliver(self, delivery_id: str, payload: dict[str, Any]) -> bool:
        """True once the receiver answered 2xx; False after the last attempt (logged)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        delay = self._first_delay
        for attempt in range(1, ATTEMPTS + 1):
            headers = {"Content-Type": "application/json", "Idempotency-Key": delivery_id,
                       **signed_headers(self._secret, body, time.time())}
            try:
                async with self._http.post(self._url, data=body, headers=headers,
                                           timeout=aiohttp.ClientTimeout(total=15)) as response:
                    if 200 <= response.status < 300:
                        return True
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            log.warning("callback %s attempt %d/%d failed: %s", delivery_id, attempt, ATTEMPTS,
                        problem)
            if attempt < ATTEMPTS:
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay *= 2
        log.error("callback %s given up after %d attempts", delivery_id, ATTEMPTS)
        return False
