"""The partitioned deployment's topology gives the embedded runner's answer whatever order its partitions
are served in: two generated counties (with people who moved between them) through the staged topology
in one process (tests/support/staged_run.py: every partition a queue and a state, served in an order
shuffled by seed), against the pipeline on one process. Exactly the same persons (ids included),
threads and stages (ids included) and open alerts, for several seeds — and with a reviewer's decision
(IdentityReviewDecided on justlink.identity.reviews) arriving at any point. The broker runs of the same
claim are tests/streams/test_runner_partitioned.py; this one tries more orders than a broker run can."""

from __future__ import annotations

import random

import pytest

from schemas.wire import default_codec
from streams.identity.events import review_decided
from streams.processor import Event
from tests.streams.test_pipeline_order import _two_records_of_one_person
from tests.support.county import generated_and_published
from tests.support.faust_worker import agency_records, assert_same_answers, open_alert_details
from tests.support.pipeline_run import TICK_AT, run_pipeline
from tests.support.staged_run import Row, run_staged

PERSONS = 1200
COUNTIES = 2


def events_of(rows: list[Row]) -> list[Event]:
    codec = default_codec()
    return [Event(*codec.decode(value), topic, 0, offset, value) for offset, (topic, _, value) in enumerate(rows)]


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[Row]:
    _, data = generated_and_published(tmp_path_factory.mktemp("topology-order"), PERSONS, seed=5, counties=COUNTIES)
    return agency_records(data)


def test_the_staged_topology_gives_the_pipeline_answers_in_any_fetch_order(rows: list[Row]) -> None:
    reference = run_pipeline(events_of(rows)).outcome
    assert len(open_alert_details(reference)) > 10 and len(set(reference.threads.values())) > 80
    for seed in range(3):
        assert_same_answers(run_staged(rows, seed=seed, tick_ms=TICK_AT), reference)


def test_a_reviewers_decision_reaches_the_staged_topology(rows: list[Row]) -> None:
    apart = _two_records_of_one_person(run_pipeline(events_of(rows)))
    review = review_decided(*apart, "apart", "reviewer-1", at_millis=TICK_AT - 86_400_000)
    review_row = (review.topic, review.key.encode(), default_codec().encode(review.event_type, review.record))
    reference = run_pipeline(events_of([*rows, review_row])).outcome
    assert reference.persons[apart[0]] != reference.persons[apart[1]]
    for seed in (7, 8):
        at = random.Random(seed).randrange(len(rows))
        assert_same_answers(run_staged([*rows[:at], review_row, *rows[at:]], seed=seed, tick_ms=TICK_AT), reference)
