"""Connector counts as Prometheus metrics.

A connector run is a one-shot job, so nothing would be there to scrape when Prometheus comes by: at the
end of `justlink connector run` the metrics below are **pushed to a Pushgateway** (setting
`metrics_pushgateway_url`; job `justlink_connector`, grouping key `agency`), the pattern Prometheus
documents for batch jobs. Each push replaces the agency's group, so the gateway holds the last run of
each agency; `justlink_connector_last_run_timestamp_seconds` lets an alert fire when a connector has not
run for too long. In-process (the tests, `justlink serve`) the same metrics sit on the default registry
that the API's /metrics serves. Labels are agency and outcome only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, push_to_gateway
from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    from connectors.sdk.runtime import RunSummary

PUSH_JOB = "justlink_connector"

RECORDS = Counter("justlink_connector_records_total", "Source records by outcome", ["agency", "outcome"])
EVENTS = Counter("justlink_connector_events_total", "Events published", ["agency"])
APPEND_RETRIES = Counter("justlink_connector_append_retries_total",
                         "Appends the event log did not acknowledge at first and that were retried", ["agency"])
LAST_RUN = Gauge("justlink_connector_last_run_timestamp_seconds", "When the agency's last connector run ended "
                 "(Unix time)", ["agency"])
LAST_RUN_SECONDS = Gauge("justlink_connector_last_run_duration_seconds", "How long the agency's last connector "
                         "run took", ["agency"])
CONNECTOR_METRICS = (RECORDS, EVENTS, APPEND_RETRIES, LAST_RUN, LAST_RUN_SECONDS)


def record_retry(agency: str) -> None:
    APPEND_RETRIES.labels(agency).inc()


def record_run(agency: str, summary: RunSummary) -> None:
    RECORDS.labels(agency, "published").inc(summary.published)
    RECORDS.labels(agency, "dead_lettered").inc(summary.dead_lettered)
    RECORDS.labels(agency, "duplicate").inc(summary.duplicates)
    RECORDS.labels(agency, "filtered").inc(summary.filtered)
    EVENTS.labels(agency).inc(summary.events)
    LAST_RUN.labels(agency).set(time.time())
    LAST_RUN_SECONDS.labels(agency).set(summary.seconds)


class _ConnectorMetrics:
    """The connector metrics only (not the process's), as one collector to push."""

    def collect(self) -> Iterator[Metric]:
        for metric in CONNECTOR_METRICS:
            yield from metric.collect()


def push(gateway_url: str, agency: str, timeout_s: float = 10.0) -> None:
    """Push the connector metrics of this process to the Pushgateway at `gateway_url` (raises OSError)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ConnectorMetrics())
    push_to_gateway(gateway_url, job=PUSH_JOB, registry=registry, grouping_key={"agency": agency},
                    timeout=timeout_s)
