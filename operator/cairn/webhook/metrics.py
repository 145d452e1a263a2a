"""Prometheus metrics of the receiver, in a registry of its own (one per app)."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")
# request latencies: the receiver answers in milliseconds; GitHub gives up at 10 s
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def event_label(event: str | None) -> str:
    """The event as a label value, keeping the label's cardinality bounded."""
    if event is None:
        return "unknown"
    return event if _EVENT_NAME.match(event) else "invalid"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.deliveries = Counter(
            "cairn_webhook_deliveries",
            "GitHub deliveries by event and outcome",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "cairn_webhook_signature_failures",
            "GitHub deliveries rejected for a missing or wrong X-Hub-Signature-256",
            ["reason"],
            registry=self.registry,
        )
        self.callbacks = Counter(
            "cairn_webhook_callbacks",
            "sandbox callbacks by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cairn_webhook_request_duration_seconds",
            "time to answer a request, by route",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its Content-Type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
