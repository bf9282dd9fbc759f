"""The views follow every correction: projected from a shuffled run (events moved to other threads, threads
redirected, alerts retracted and raised again, a person split by a reviewer midway), the timeline's person
and thread columns, the dispute events and the alerts are those projected from the run in the log's order.
Through the real projector on the real ClickHouse engine (chDB), in batches, so that corrections read rows
both from the store and from their own batch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.viewstore import ViewStore, open_view_store
from streams.processor import Event
from tests.streams.test_pipeline_order import _two_records_of_one_person
from tests.support.county import agency_events, generated_and_published
from tests.support.pipeline_run import orders, project, run_pipeline, views
from tests.support.viewstore import view_store_settings


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> list[Event]:
    _, data = generated_and_published(tmp_path_factory.mktemp("views-order"), 1500, seed=7)
    return agency_events(data)


def fresh_store() -> Iterator[ViewStore]:
    store = open_view_store(view_store_settings("chdb"))
    store.migrate()
    try:
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()


def projected(rows: list) -> dict:
    for store in fresh_store():
        project(rows, store)
        return views(store)
    raise AssertionError("no store")


def test_views_after_a_shuffled_run_equal_the_log_order_views(events: list[Event]) -> None:
    all_orders = orders(events)
    reference_run = run_pipeline(all_orders["log order"])
    apart = _two_records_of_one_person(reference_run)
    reference = projected(run_pipeline(all_orders["log order"], apart=apart).rows)
    assert len(reference["timeline"]) > 1500 and len(reference["dispute_events"]) > 800
    assert any(status == "open" for _, status, _, _ in reference["alerts"])
    for name in ("shuffled 2", "newest first"):
        got = projected(run_pipeline(all_orders[name], apart=apart).rows)
        for table in ("timeline", "dispute_events", "person_records"):
            assert got[table] == reference[table], f"{name}: {table}"
        open_alerts = [a for a in got["alerts"] if a[1] == "open"]
        assert open_alerts == [a for a in reference["alerts"] if a[1] == "open"], f"{name}: open alerts"
