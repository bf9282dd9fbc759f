"""The API's /metrics (Prometheus) after a real run — connectors, embedded processors, projector, API —
exposes: events in and out per topic, dead letters (connectors and processors), lag per input topic,
processing latency (batch time and record age), query latency and access denials. Counters are
process-wide, so the test compares values before and after its own run. No id or value in the labels."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource
from consent.access.users import UserRegistry, create_demo_users
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from hub.api.app import create_app
from hub.services.context import AppServices
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.viewstore import open_view_store
from streams.runners.views import run_projector
from streams.views.projector import ViewProjector
from tests.support.run_processors import build_runner
from tests.support.tiny_connector import HEADER, TinyPoliceConnector, good_row
from tests.support.viewstore import view_store_settings

POLICE = "justlink.police.events"


def scrape(client: TestClient) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple]:
    data = tmp_path / "data"
    init_keystore(data)
    keystore = open_keystore(data)
    log = EmbeddedEventLog(data / "log.db")
    settings = view_store_settings("chdb").model_copy(update={"data_dir": data})
    store = open_view_store(view_store_settings("chdb"))
    store.migrate()
    with UserRegistry.open(data) as registry:
        token = next(t.token for t in create_demo_users(registry) if t.user_id == "mediator.demo")
    services = AppServices.build(settings, log, store, Protector(keystore))
    try:
        with TestClient(create_app(services)) as client:
            yield data, log, keystore, store, client, token
    finally:
        services.close()
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()
        log.close()
        keystore.close()


def test_metrics_expose_events_dead_letters_lag_latency_and_denials(hub) -> None:
    data, log, keystore, store, client, token = hub
    before = scrape(client)
    csv = data / "incidents.csv"
    csv.write_text(HEADER + "".join(good_row(i) for i in range(300)) + "JQ-bad,2025-02-30 08:00,邻里纠纷,,,,\n",
                   encoding="utf-8")
    state = ConnectorState(data / "connectors.db")
    try:
        summary = ConnectorRunner(TinyPoliceConnector(), log, Protector(keystore), state,
                                  progress=False).run(CsvSource(csv))
    finally:
        state.close()
    assert (summary.published, summary.dead_lettered) == (300, 1)
    log.append(POLICE, b"\x00 not an event")                       # the processors dead-letter this one

    runner = build_runner(data, batch_size=50)
    stop = threading.Event()
    runner.run(until_idle=False, stop=stop, on_batch=lambda _: stop.set())   # one batch, then stop
    mid = scrape(client)
    assert value(mid, "justlink_stream_lag_records", stage="processors", topic=POLICE) == 301 - 50
    stats = runner.run(until_idle=True)
    assert stats.dead_lettered == 1
    run_projector(log, ViewProjector(store), group=f"views-{time.time_ns()}", batch_size=100)
    mediator = {"Authorization": f"Bearer {token}", "X-JustLink-Role": "mediator",
                "X-JustLink-Purpose": "dispute_mediation"}
    assert client.get("/api/v1/case", headers=mediator).status_code == 403          # no case: a denial
    assert client.get("/api/v1/me", headers=mediator).status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("justlink_connector_records_total", agency="police", outcome="published") == 300
    assert grew("justlink_connector_records_total", agency="police", outcome="dead_lettered") == 1
    assert grew("justlink_connector_events_total", agency="police") == 300
    assert grew("justlink_stream_events_in_total", stage="processors", topic=POLICE) == 301
    assert grew("justlink_stream_events_out_total", stage="processors", topic="justlink.resolved") == 300
    assert grew("justlink_stream_events_out_total", stage="processors", topic="justlink.identity") > 0
    assert grew("justlink_stream_dead_letters_total", stage="processors", topic=POLICE) == 1
    assert value(after, "justlink_stream_lag_records", stage="processors", topic=POLICE) == 0
    assert grew("justlink_stream_batch_seconds_count", stage="processors") >= 7
    assert grew("justlink_stream_event_age_seconds_count", stage="processors") == 301
    assert grew("justlink_stream_events_in_total", stage="views", topic="justlink.resolved") == 300
    assert grew("justlink_stream_events_out_total", stage="views", topic="timeline") == 300
    assert value(after, "justlink_stream_lag_records", stage="views", topic="justlink.resolved") == 0
    assert grew("justlink_stream_batch_seconds_count", stage="views") >= 3
    assert grew("justlink_query_seconds_count", route="/api/v1/case", method="GET") == 1
    assert grew("justlink_access_denials_total", status="403", reason="no_case") == 1

    text = client.get("/metrics").text
    person = store.query_rows("SELECT person_id FROM timeline LIMIT 1")[0][0]
    assert person not in text and "JQ00001" not in text and token not in text
