"""The same agency events give the same persons, dispute threads (dispute ids included) and open alerts,
whatever order they arrive in: the log's order, shuffled, the agencies' exports in reverse order, newest
first — with persons merged and split on the way. On a generated county published by the four real
connectors, through the runner core every runner uses. (streams/stories/README.md: the guarantee.)"""

from __future__ import annotations

import pytest

from schemas.wire import default_codec
from streams.identity.clusters import Graph
from streams.processor import Event
from streams.stories.index import StoryIndex
from streams.stories.stories import PERSONS
from tests.support.county import agency_events, generated_and_published
from tests.support.faust_worker import clustering, open_alerts
from tests.support.pipeline_run import PipelineRun, orders, run_pipeline, story_scopes


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> list[Event]:
    _, data = generated_and_published(tmp_path_factory.mktemp("pipeline-order"), 1500, seed=5)
    return agency_events(data)


@pytest.fixture(scope="module")
def runs(events: list[Event]) -> dict[str, PipelineRun]:
    return {name: run_pipeline(order) for name, order in orders(events).items()}


def test_persons_threads_and_open_alerts_do_not_depend_on_the_order(runs: dict[str, PipelineRun]) -> None:
    reference = runs["log order"].outcome
    assert len(set(reference.persons.values())) > 300 and len(set(reference.threads.values())) > 150
    assert len(open_alerts(reference)) > 20
    for name, run in runs.items():
        got = run.outcome
        assert got.conflicting == 0, name   # one event id, one content
        assert sum(1 for k, p in reference.persons.items() if got.persons.get(k) != p) == 0, name
        assert clustering(got.threads) == clustering(reference.threads), name
        assert got.threads == reference.threads, f"{name}: the same threads under other dispute ids"
        assert open_alerts(got) == open_alerts(reference), name


def test_the_orders_exercised_late_events_and_identity_changes(runs: dict[str, PipelineRun]) -> None:
    """Not a vacuous pass: the shuffled runs corrected placements and retracted alerts on the way, and
    persons were merged and split under existing stories."""
    codec = default_codec()
    moved = retracted = 0
    for _, _, value, *_ in runs["shuffled 0"].rows:
        event_type, record = codec.decode(value)
        if event_type == "DisputeThreaded" and (record.get("previous_dispute_id") is not None
                                                or "redirect" in record["envelope"]["source_record_key"]):
            moved += 1
        if event_type == "AlertResolved" and record["user_id"] == "system":
            retracted += 1
    merges = 0
    for _, _, value, *_ in runs["log order"].rows:
        event_type, _ = codec.decode(value)
        merges += event_type == "PersonsMerged"
    assert moved > 10 and retracted >= 1 and merges > 50


def test_every_story_is_its_canonical_replay(runs: dict[str, PipelineRun]) -> None:
    """The state is a fixed point: replaying every story again corrects nothing; and every fact holds the
    person identity resolution gives its party now."""
    for name in ("log order", "newest first"):
        run = runs[name]
        graph = Graph(run.state)
        for scope in story_scopes(run):
            for event_id, fact in StoryIndex(scope).facts.items():
                for i, person in enumerate(fact[PERSONS]):
                    if person is not None:
                        assert person == graph.person_of_record(f"{event_id}#{i}"), name
            assert run.pipeline.stories.replay(scope) == [], name


def test_a_reviewer_keeping_two_records_apart_midway_splits_the_same_way_in_every_order(
        events: list[Event], runs: dict[str, PipelineRun]) -> None:
    """A split in the middle of the stream (a reviewer's decision once both records have arrived): the
    persons, threads and open alerts after it are again the same for every order."""
    apart = _two_records_of_one_person(runs["log order"])
    split = {name: run_pipeline(order, apart=apart) for name, order in orders(events).items()
             if name in ("log order", "shuffled 1", "newest first")}
    reference = split["log order"].outcome
    assert reference.persons[apart[0]] != reference.persons[apart[1]]
    codec = default_codec()
    assert any(codec.decode(v)[0] == "PersonSplit" for _, _, v, *_ in split["log order"].rows)
    for name, run in split.items():
        assert run.outcome.persons == reference.persons, name
        assert run.outcome.threads == reference.threads, name
        assert open_alerts(run.outcome) == open_alerts(reference), name


def _two_records_of_one_person(run: PipelineRun) -> tuple[str, str]:
    """Two occurrences, from two agencies, of the person with the most threaded records, one of them without
    a valid ID number (records sharing one are one person whatever a reviewer says)."""
    graph = Graph(run.state)
    by_person: dict[str, list[str]] = {}
    for key, person in sorted(run.outcome.persons.items()):
        if key.rsplit("#", 1)[0] in run.outcome.threads:
            by_person.setdefault(person, []).append(key)
    agencies = {e: f[2][2] for scope in story_scopes(run) for e, f in StoryIndex(scope).facts.items()
                if f[2] is not None}
    for _, keys in sorted(by_person.items(), key=lambda item: (-len(item[1]), item[0])):
        free = [k for k in keys if not graph.node[graph.occ[k]][2]]
        for first in free:
            other = next((k for k in keys if agencies[k.rsplit("#", 1)[0]] != agencies[first.rsplit("#", 1)[0]]),
                         None)
            if other is not None:
                return first, other
    raise AssertionError("no person with records from two agencies, one without a valid ID number")
