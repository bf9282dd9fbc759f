"""Run the pipeline (identity -> stories: threads and alerts) over a generated county's agency events in a
given order, the way every runner does (streams/runners/core.py on a DictState), and read back what it
published: the outcome (tests/support/faust_worker.py `outcome_of`) and, through the real projector, the
views. Used by the order-independence tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runtime.clock import to_millis
from runtime.topics import AGENCIES
from runtime.viewstore.store import ViewStore
from schemas.wire import default_codec
from streams.pipeline import Pipeline
from streams.processor import DictState, Event, State
from streams.runners.core import Handled, RunnerCore
from streams.views.projector import VIEW_TOPICS, ViewProjector
from tests.support.faust_worker import Outcome, outcome_of

# the clock of the final tick: after every deadline of a generated county (its exports end mid-2025)
TICK_AT = to_millis(datetime(2026, 1, 1, tzinfo=UTC))


@dataclass
class PipelineRun:
    rows: list[tuple[Any, ...]]   # (topic, key, value, headers) as published, in order
    state: DictState
    pipeline: Pipeline
    outcome: Outcome


def story_scopes(run: PipelineRun) -> list[State]:
    """The parts of the state that hold each county's stories."""
    return [run.pipeline.story_scope(run.state, county) for county in run.pipeline.counties(run.state)]


def orders(events: list[Event]) -> dict[str, list[Event]]:
    """The log's order, three shuffles, the agencies' exports in reverse order, and newest first."""
    by_agency = {a: [e for e in events if e.topic == f"justlink.{a}.events"] for a in AGENCIES}
    found = {"log order": list(events)}
    found.update({f"shuffled {seed}": random.Random(seed).sample(events, len(events)) for seed in range(3)})
    found["agencies reversed"] = [e for a in reversed(AGENCIES) for e in by_agency[a]]
    found["newest first"] = sorted(events, key=lambda e: (e.record["envelope"]["occurred_at"], e.event_id),
                                   reverse=True)
    return found


def run_pipeline(events: list[Event], *, tick_ms: int | None = TICK_AT,
                 apart: tuple[str, str] | None = None) -> PipelineRun:
    """Every event through one runner core in this order, then a tick at `tick_ms` (deadlines by the
    clock). `apart`: two party occurrences (record keys) a reviewer keeps
    apart as soon as both have arrived."""
    pipeline = Pipeline.default()
    core, state, handled = RunnerCore(pipeline), DictState(), Handled()
    waiting = {key.rsplit("#", 1)[0] for key in apart} if apart else set()
    for event in events:
        core.handle(event.topic, event.partition, event.offset, event.raw, state, handled)
        if apart and waiting and event.event_id in waiting:
            waiting.discard(event.event_id)
            if not waiting:
                core.add_outputs(pipeline.review(*apart, "apart", event.record["envelope"]["occurred_at"], state),
                                 handled)
    if tick_ms is not None:
        core.tick(tick_ms, state, handled)
    assert not handled.dead_letters, handled.dead_letters
    streams: dict[str, list[bytes]] = {}
    for topic, _, value, *_ in handled.rows:
        streams.setdefault(topic, []).append(value)
    return PipelineRun(handled.rows, state, pipeline, outcome_of(streams))


def project(rows: list[tuple[Any, ...]], store: ViewStore, batch: int = 400) -> None:
    """The published records through the real projector, in their order, `batch` records at a time."""
    projector = ViewProjector(store)
    codec = default_codec()
    view_rows = [codec.decode(value) for topic, _, value, *_ in rows if topic in VIEW_TOPICS]
    for start in range(0, len(view_rows), batch):
        projector.apply(view_rows[start:start + batch])


def views(store: ViewStore) -> dict[str, Any]:
    """The views as the API reads them, every person and thread id mapped to the live one."""
    persons = _redirects(store, "person_redirects", "person_id")
    threads = _redirects(store, "dispute_redirects", "dispute_id")
    timeline = sorted((persons(r[0]), r[1], r[2], threads(r[3]) if r[3] else "", r[4]) for r in store.query_rows(
        "SELECT person_id, event_id, party_index, dispute_id, stage FROM timeline FINAL WHERE is_deleted = 0"))
    dispute_events = sorted((r[0], threads(r[1]), r[2]) for r in store.query_rows(
        "SELECT event_id, dispute_id, stage FROM dispute_events FINAL WHERE is_deleted = 0"))
    alerts = sorted((r[0], r[1], persons(r[2]) if r[2] else "", threads(r[3]) if r[3] else "") for r in store.query_rows(
        "SELECT alert_id, status, person_id, dispute_id FROM alerts FINAL WHERE is_deleted = 0"))
    records = sorted((r[0], persons(r[1])) for r in store.query_rows(
        "SELECT record_key, person_id FROM person_records FINAL"))
    return {"timeline": timeline, "dispute_events": dispute_events, "alerts": alerts, "person_records": records}


def _redirects(store: ViewStore, table: str, column: str):  # noqa: ANN202 - a small closure
    redirect = {str(a): str(b) for a, b in store.query_rows(f"SELECT retired_id, {column} FROM {table} FINAL")}

    def live(key: str) -> str:
        seen = set()
        while key in redirect and key not in seen:
            seen.add(key)
            key = redirect[key]
        return key
    return live
