"""Connector counts as Prometheus metrics (scraped from the API server's /metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter

if TYPE_CHECKING:
    from connectors.sdk.runtime import RunSummary

RECORDS = Counter("justlink_connector_records_total", "Source records by outcome", ["agency", "outcome"])
EVENTS = Counter("justlink_connector_events_total", "Events published", ["agency"])
APPEND_RETRIES = Counter("justlink_connector_append_retries_total",
                         "Appends the event log did not acknowledge at first and that were retried", ["agency"])


def record_retry(agency: str) -> None:
    APPEND_RETRIES.labels(agency).inc()


def record_run(agency: str, summary: RunSummary) -> None:
    RECORDS.labels(agency, "published").inc(summary.published)
    RECORDS.labels(agency, "dead_lettered").inc(summary.dead_lettered)
    RECORDS.labels(agency, "duplicate").inc(summary.duplicates)
    RECORDS.labels(agency, "filtered").inc(summary.filtered)
    EVENTS.labels(agency).inc(summary.events)
