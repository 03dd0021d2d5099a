"""Prometheus metrics of the daemon, in a registry of its own (tests build their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class OutboxFacts(Protocol):
    """What the outbox gauges show (``store.outbox_admin.Backlog`` has it)."""

    @property
    def depth(self) -> int: ...
    @property
    def oldest(self) -> datetime | None: ...
    @property
    def failed(self) -> int: ...
    @property
    def overdue(self) -> int: ...


class Metrics:
    """Checks by source and status, fetch latency, alerts sent and failed, outbox depth and
    age, failed and overdue deliveries, last successful check per source, heartbeat, fetches
    refused by the address guard."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.checks = Counter(
            "absence_checks", "Checks by source and status", ["source", "status"], registry=r
        )
        self.latency = Histogram(
            "absence_fetch_seconds",
            "Time a check spent on the engine",
            ["source"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80),
            registry=r,
        )
        self.alerts = Counter(
            "absence_alert_deliveries",
            "Alert deliveries by outcome",
            ["channel", "outcome"],
            registry=r,
        )
        self.outbox_depth = Gauge("absence_outbox_depth", "Undelivered deliveries", registry=r)
        self.outbox_age = Gauge(
            "absence_outbox_oldest_age_seconds", "Age of the oldest undelivered alert", registry=r
        )
        self.deliveries_failed = Gauge(
            "absence_deliveries_failed",
            "Deliveries given up (failed) and not resent: alerts nobody was told of",
            registry=r,
        )
        self.deliveries_overdue = Gauge(
            "absence_deliveries_overdue",
            "Undelivered deliveries whose attempt is over 5 minutes late",
            registry=r,
        )
        self.last_ok = Gauge(
            "absence_last_successful_check_timestamp_seconds",
            "Last ok/no_results check per source",
            ["source"],
            registry=r,
        )
        self.heartbeat = Gauge(
            "absence_heartbeat_timestamp_seconds", "Last daemon tick", registry=r
        )
        self.refused = Counter(
            "absence_fetches_refused",
            "Thumbnail fetches refused: the URL's host is or resolves to an internal address",
            registry=r,
        )
        self.lag = Histogram(
            "absence_scheduler_lag_seconds",
            "How late rounds start",
            buckets=(0.01, 0.1, 0.5, 1, 5, 30, 60, 300),
            registry=r,
        )

    def observe_check(self, source: str, status: str, seconds: float, at: float) -> None:
        self.checks.labels(source, status).inc()
        self.latency.labels(source).observe(seconds)
        if status in ("ok", "no_results"):
            self.last_ok.labels(source).set(at)

    def observe_outbox(self, backlog: OutboxFacts, now: datetime) -> None:
        """Set the outbox gauges from a ``store.outbox_admin.Backlog`` taken at ``now``."""
        self.outbox_depth.set(backlog.depth)
        self.outbox_age.set((now - backlog.oldest).total_seconds() if backlog.oldest else 0)
        self.deliveries_failed.set(backlog.failed)
        self.deliveries_overdue.set(backlog.overdue)

    def render(self) -> bytes:
        return generate_latest(self.registry)
