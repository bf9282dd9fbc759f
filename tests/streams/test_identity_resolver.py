"""IdentityProcessor: linking, stable ids, merges, conflicts and cuts, idempotency, reviewers' decisions,
output contracts (order independence on a generated county: tests/streams/test_identity_order.py). Parties are protected by the real privacy layer (ephemeral keystore)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent.privacy.normalize import id_check_char
from schemas import models
from schemas.wire import default_codec
from streams.identity import IdentityProcessor, load_config
from streams.identity.batch import PartyProtection
from streams.identity.clusters import free_person_id
from streams.processor import IDENTITY_TOPIC, DictState, Event

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def resident_id(area: str, birth: str, seq: str) -> str:
    first17 = area + birth + seq
    return first17 + id_check_char(first17)


ID_A = resident_id("110101", "19900307", "451")
ID_B = resident_id("110101", "19900307", "453")


@pytest.fixture(scope="module")
def protection() -> Iterator[PartyProtection]:
    prot = PartyProtection()
    yield prot
    prot.close()


class Feed:
    """Builds agency events (protected parties) and handles them with one processor and state."""

    def __init__(self, protection: PartyProtection) -> None:
        self.protection = protection
        self.processor = IdentityProcessor()
        self.state = DictState()
        self.n = 0

    def event(self, *parties: dict[str, Any], agency: str = "police", event_id: str | None = None) -> Event:
        self.n += 1
        event_id = event_id or f"ev-{self.n:04d}"
        protected = []
        for i, party in enumerate(parties):
            plain = {k: v for k, v in party.items() if k != "gender"}
            protected.append({"role": "involved", "kind": party.get("kind", "person"),
                              "gender": party.get("gender"), "name": "jle1.x",
                              "protection": self.protection.protect(plain, agency, f"{event_id}/{i}")})
        when = T0 + timedelta(days=self.n)
        envelope = {"event_id": event_id, "event_type": "IncidentReported",
                    "source": {"agency": agency, "office_code": "X1", "office_name": "", "county_code": "110101"},
                    "source_record_key": event_id, "source_record_version": 1, "occurred_at": when,
                    "recorded_at": when, "schema_version": 1, "related": [], "restriction": None}
        return Event("IncidentReported", {"envelope": envelope, "parties": protected})

    def handle(self, *parties: dict[str, Any], agency: str = "police") -> tuple[list, list[str]]:
        return self.processor.resolve_event(self.event(*parties, agency=agency), self.state)


@pytest.fixture()
def feed(protection: PartyProtection) -> Feed:
    return Feed(protection)


ZHANG = {"name": "张伟", "date_of_birth": "1990-03-07", "gender": "male"}


def test_new_person_then_stable_id_when_others_join(feed: Feed) -> None:
    outputs, [first] = feed.handle({"name": "章伟", "date_of_birth": "1990-03-07", "phone": "13812345678"})
    assert first == free_person_id("ev-0001#0"), "a person without a valid ID: named by its first record key"
    assert outputs[0].record["match_kind"] == "new_person" and outputs[0].topic == IDENTITY_TOPIC
    outputs, [second] = feed.handle({**ZHANG, "id_number": ID_A, "phone": "13812345678"})
    anchored = second
    assert [o.event_type for o in outputs] == ["PersonsMerged", "PersonLinked"]
    assert outputs[0].record["retired_person_id"] == first and outputs[0].record["surviving_person_id"] == anchored
    _, [third] = feed.handle({**ZHANG, "id_number": ID_A})
    _, [fourth] = feed.handle({"name": "張偉", "id_number": ID_A})  # traditional script, ID only
    assert anchored == third == fourth
    assert feed.processor.person_of("ev-0001#0", feed.state) == anchored


def test_a_valid_id_names_the_person_wherever_it_arrives(protection: PartyProtection) -> None:
    """The id of a person holding a valid ID number derives from the number's blind index: two
    processors that never met, fed in opposite orders, name the person alike."""
    feed = Feed(protection)
    events = [feed.event({**ZHANG, "id_number": ID_A}), feed.event({"name": "章伟", "id_number": ID_A}),
              feed.event({**ZHANG, "phone": "13812345678", "id_number": ID_A})]
    answers = []
    for order in (events, events[::-1]):
        processor, state = IdentityProcessor(), DictState()
        answers.append([processor.resolve_event(e, state)[1] for e in order][-1])
    assert answers[0] == answers[1]


def test_linked_event_carries_evidence(feed: Feed) -> None:
    feed.handle({**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"})
    outputs, _ = feed.handle({"name": "章伟", "date_of_birth": "1990-03-07", "phone": "13812345678"})
    linked = outputs[-1].record
    assert linked["match_kind"] == "probabilistic" and linked["matched_record_key"] == "ev-0001#0"
    outcomes = {e["attribute"]: e["outcome"] for e in linked["evidence"]}
    assert outcomes["phone"] == "agree" and outcomes["date_of_birth"] == "agree"
    assert outcomes["name"] == "partial" and outcomes["name_pinyin"] == "agree"
    assert outcomes["id_number"] == "missing"
    assert linked["score"] == pytest.approx(sum(e["weight"] for e in linked["evidence"]), abs=1e-3)


LIU_PHONE = {"name": "刘洋", "phone": "13700003333", "gender": "male"}
LIU_ADDRESS = {"name": "刘洋", "address": "河北省保定市莲池区东关街1号", "gender": "male"}
LIU_BRIDGE = {**LIU_PHONE, **LIU_ADDRESS}


def test_bridge_record_merges_two_persons(feed: Feed) -> None:
    _, [d] = feed.handle(LIU_PHONE)
    _, [e] = feed.handle(LIU_ADDRESS)
    assert d != e, "name and gender alone are not enough"
    outputs, [bridge] = feed.handle(LIU_BRIDGE)
    merged = [o.record for o in outputs if o.event_type == "PersonsMerged"]
    assert len(merged) == 1 and merged[0]["surviving_person_id"] == d and merged[0]["retired_person_id"] == e
    assert bridge == d and outputs[-1].record["person_id"] == d
    assert feed.processor.person_of("ev-0002#0", feed.state) == d


def test_conflicting_valid_ids_never_merge_and_the_bridge_joins_the_stronger(feed: Feed) -> None:
    same = {**ZHANG, "address": "北京市东城区东华门街道1号"}
    _, [a] = feed.handle({**same, "id_number": ID_A, "phone": "13812345678"})
    _, [b] = feed.handle({**same, "id_number": ID_B})
    assert a != b
    assert feed.processor.explain_records("ev-0001#0", "ev-0002#0", feed.state).conflict
    # a record without an ID that matches both persons joins the one it matches best and merges nothing
    outputs, [c] = feed.handle({**same, "phone": "13812345678"})
    assert c == a and not [o for o in outputs if o.event_type == "PersonsMerged"]


def test_a_later_valid_id_cuts_a_person_and_says_so(feed: Feed) -> None:
    """Free records first join into one person; a second valid ID number arriving later between them
    cuts the person (PersonSplit) — the answer the opposite order would have given at once."""
    same = {**ZHANG, "address": "北京市东城区东华门街道1号"}
    _, [a] = feed.handle({**same, "id_number": ID_A, "phone": "13812345678"})
    _, [c] = feed.handle({**same, "phone": "13812345678"})
    _, [d] = feed.handle({**same, "phone": "13999990000"})
    assert a == c == d
    outputs, [b] = feed.handle({**same, "id_number": ID_B, "phone": "13999990000"})
    splits = [o.record for o in outputs if o.event_type == "PersonSplit"]
    assert b != a and len(splits) == 1 and splits[0]["person_id"] == a and splits[0]["new_person_id"] == b
    assert splits[0]["record_keys"] == ["ev-0003#0"]
    assert feed.processor.person_of("ev-0003#0", feed.state) == b
    assert feed.processor.person_of("ev-0002#0", feed.state) == a


def test_same_name_different_people_do_not_merge(feed: Feed) -> None:
    ids = set()
    for i, day in enumerate(("1990-03-07", "1990-05-11", "1990-08-21", "1990-12-02")):
        _, [pid] = feed.handle({"name": "张伟", "date_of_birth": day, "gender": "male",
                                "phone": f"1381234{i:04d}"})
        ids.add(pid)
    assert len(ids) == 4


def test_same_event_twice_changes_nothing(feed: Feed) -> None:
    feed.handle({**ZHANG, "id_number": ID_A})
    event = feed.event({**ZHANG, "id_number": ID_A, "phone": "13812345678"}, {"name": "王芳", "gender": "female"})
    first, ids = feed.processor.resolve_event(event, feed.state)
    snapshot = copy.deepcopy(feed.state.tables)
    again, ids_again = feed.processor.resolve_event(event, feed.state)
    assert feed.state.tables == snapshot and ids == ids_again and again == []
    assert first


def test_reviewers_decisions_hold_whatever_arrives_later(feed: Feed) -> None:
    _, [a] = feed.handle({**ZHANG, "phone": "13812345678"})
    _, [b] = feed.handle({**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"})
    assert a == b
    env = {"occurred_at": T0, "recorded_at": T0, "event_id": "review-1", "source": {"agency": "hub"}}
    outputs = feed.processor.review("ev-0001#0", "ev-0002#0", "apart", feed.state, env)
    split = [o.record for o in outputs if o.event_type == "PersonSplit"]
    assert len(split) == 1 and split[0]["record_keys"] == ["ev-0002#0"]
    new = feed.processor.person_of("ev-0002#0", feed.state)
    assert new != a
    outputs, [c] = feed.handle({**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"})
    assert c in (a, new) and feed.processor.person_of("ev-0001#0", feed.state) != \
        feed.processor.person_of("ev-0002#0", feed.state)
    feed.processor.review("ev-0001#0", "ev-0002#0", "same", feed.state, env)
    assert feed.processor.person_of("ev-0001#0", feed.state) == feed.processor.person_of("ev-0002#0", feed.state)


def test_organisations_are_not_resolved(feed: Feed) -> None:
    outputs, ids = feed.handle({"kind": "organisation", "name": "某某建筑公司", "id_number": "91110000X"},
                               {**ZHANG, "id_number": ID_A})
    assert ids[0].startswith("O") and ids[1].startswith("P")
    assert [o.record["record_key"] for o in outputs] == ["ev-0001#1"]


def test_outputs_validate_encode_and_hold_no_plaintext(feed: Feed) -> None:
    parties = [{**ZHANG, "id_number": ID_A, "phone": "13812345678", "address": "北京市东城区东华门街道1号"},
               {"name": "章伟", "date_of_birth": "1990-03-07", "phone": "13812345678"}]
    outputs = [o for p in parties for o in feed.handle(p, agency="court")[0]]
    outputs += feed.handle(LIU_PHONE, agency="court")[0] + feed.handle(LIU_ADDRESS, agency="court")[0]
    outputs += feed.handle(LIU_BRIDGE, agency="court")[0]
    parties += [LIU_BRIDGE]
    env = {"occurred_at": T0, "recorded_at": T0, "event_id": "review-1", "source": {"agency": "hub"}}
    outputs += feed.processor.review("ev-0001#0", "ev-0002#0", "apart", feed.state, env)
    assert {o.event_type for o in outputs} == {"PersonLinked", "PersonsMerged", "PersonSplit"}
    codec = default_codec()
    plaintext = [v for p in parties for v in p.values()] + [ID_A, "1990", "张", "刘"]
    for output in outputs:
        models.validate(output.event_type, copy.deepcopy(output.record))
        data = codec.encode(output.event_type, output.record)
        assert codec.decode(data)[0] == output.event_type
        for value in plaintext:
            assert value.encode() not in data, f"{output.event_type} carries a plaintext value"


def test_config_loads_and_rejects_bad_files(tmp_path) -> None:
    config = load_config()
    assert config.match_threshold > config.possible_threshold
    assert config.comparison("id_number").hard_conflict
    bad = tmp_path / "bad.toml"
    bad.write_text('[comparisons.x]\nkind = "exact"\nfield = "shoe_size"\nlevels = [{outcome="agree", m=0.9, u=0.1}]\n'
                   'else = {m=0.1, u=0.9}\n')
    from streams.identity.config import ConfigError

    with pytest.raises(ConfigError, match=r"comparisons\.x: field must be one of"):
        load_config(bad)


def test_a_decision_before_its_records_arrive_holds_as_after(protection: PartyProtection) -> None:
    """Reviews travel as events: one may be read before the records it names. Same persons either way."""
    env = {"occurred_at": T0, "recorded_at": T0, "event_id": "review-1", "source": {"agency": "hub"}}
    parties = [{**ZHANG, "phone": "13812345678"}, {**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"}]
    after, before = Feed(protection), Feed(protection)
    for party in parties:
        after.handle(party)
    after.processor.review("ev-0001#0", "ev-0002#0", "apart", after.state, env)
    assert before.processor.review("ev-0001#0", "ev-0002#0", "apart", before.state, env) == []
    for party in parties:
        before.handle(party)
    for feed in (after, before):
        assert feed.processor.person_of("ev-0001#0", feed.state) != feed.processor.person_of("ev-0002#0", feed.state)
    assert after.processor.person_of("ev-0002#0", after.state) == before.processor.person_of("ev-0002#0", before.state)
