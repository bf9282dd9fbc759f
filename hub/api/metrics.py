"""Prometheus metrics of the query API, on a registry of the app's own (so several apps can live
in one process, as in the tests). Labels carry route templates and reason codes only — never ids."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("justlink_query_seconds", "Query API latency by route, access check and audit included",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.requests = Counter("justlink_requests", "Query API requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.denials = Counter("justlink_access_denials", "Accesses refused (401 / 403) by reason code",
                               ["status", "reason"], registry=self.registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.latency.labels(route, method).observe(seconds)
        self.requests.labels(route, str(status)).inc()

    def denied(self, status: int, reason: str) -> None:
        self.denials.labels(str(status), reason).inc()

    def render(self) -> bytes:
        """The API's metrics, then the process's (connectors, stream stages, process): the embedded server
        runs the processors and the projector in this process (streams.runners.metrics)."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)
