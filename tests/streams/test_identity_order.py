"""Person resolution gives the same persons — ids included — whatever order the occurrences arrive in:
shuffled, agency by agency in any agency order, newest first; with the county's candidate rules and
with the wide ones of resolve.toml. On a generated county (real connectors,
real protection), so homophones, typos, missing and conflicting identifiers are all in play."""

from __future__ import annotations

import random

import pytest

from runtime.topics import AGENCIES
from streams.identity import IdentityProcessor, MatchConfig, load_config
from streams.identity.config import RESOLVE_CONFIG
from streams.processor import DictState, Event
from tests.support.county import agency_events, generated_and_published


@pytest.fixture(scope="module")
def events(tmp_path_factory) -> list[Event]:
    _, data = generated_and_published(tmp_path_factory.mktemp("identity-order"), 1500, seed=5)
    return agency_events(data)


def persons(events: list[Event], config: MatchConfig | None = None) -> dict[str, str]:
    processor, state = IdentityProcessor(config), DictState()
    for event in events:
        processor.handle(event, state)
    return {f"{e.event_id}#{i}": processor.person_of(f"{e.event_id}#{i}", state) or ""
            for e in events for i, p in enumerate(e.record.get("parties") or ()) if p.get("kind") != "organisation"}


@pytest.mark.parametrize("rules", ["county (names that sound alike, ID)", "wide (resolve.toml: dates, words)"])
def test_persons_do_not_depend_on_the_order(events: list[Event], rules: str) -> None:
    config = load_config(RESOLVE_CONFIG) if rules.startswith("wide") else None
    reference = persons(events, config)
    assert len(set(reference.values())) > 300 and len(reference) > 1500
    orders = {f"shuffled {seed}": random.Random(seed).sample(events, len(events)) for seed in range(3)}
    orders["newest first"] = events[::-1]
    by_agency = {a: [e for e in events if e.topic == f"justlink.{a}.events"] for a in AGENCIES}
    orders["agencies reversed"] = [e for a in reversed(AGENCIES) for e in by_agency[a]]
    for name, order in orders.items():
        got = persons(order, config)
        differing = sum(1 for key, person in reference.items() if got[key] != person)
        assert differing == 0, f"{name}: {differing} occurrences resolved to another person"
