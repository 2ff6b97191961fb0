"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from bot.platform import ConnectionHealth

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """The service's counters and histograms. Labels never carry user data or secrets."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bot_http_requests", "HTTP requests by route and status",
            ["endpoint", "status"], registry=self.registry,
        )
        self.messages = Counter(
            "bot_messages", "Messages handled by platform, account and outcome",
            ["platform", "account", "outcome"], registry=self.registry,
        )
        self.llm_latency = Histogram(
            "bot_llm_latency_seconds", "LLM call latency (whole answer)", ["mode"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120), registry=self.registry,
        )
        self.tokens = Counter(
            "bot_llm_tokens", "Tokens reported by the LLM", ["kind"], registry=self.registry,
        )
        self.errors = Counter(
            "bot_errors", "Errors by kind", ["kind"], registry=self.registry,
        )

        self.moderation = Counter(
            "bot_moderation_flagged", "Texts flagged by direction (input, output) and provider",
            ["direction", "provider"], registry=self.registry,
        )
        self.moderation_errors = Counter(
            "bot_moderation_errors", "Moderation provider failures", ["provider"],
            registry=self.registry,
        )

        self.connection_up = Gauge(
            "bot_long_connection_up", "1 while a long connection is connected, by connection",
            ["connection"], registry=self.registry,
        )
        self.connection_event_age = Gauge(
            "bot_long_connection_last_event_age_seconds",
            "Seconds since the last event on a long connection (absent before the first)",
            ["connection"], registry=self.registry,
        )

    def connections(self, states: Sequence[ConnectionHealth]) -> None:
        """Set the long-connection gauges from the adapters' reports (at scrape time)."""
        for health in states:
            self.connection_up.labels(health.name).set(1 if health.up else 0)
            if health.last_event_age is not None:
                self.connection_event_age.labels(health.name).set(health.last_event_age)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
