"""IdentityProcessor: linking, stable ids, merges, conflicts, idempotency, determinism, corrections,
output contracts. Parties are protected by the real privacy layer (ephemeral keystore)."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent.privacy.normalize import id_check_char
from schemas import models
from schemas.wire import default_codec
from streams.identity import IdentityProcessor, load_config
from streams.identity.batch import PartyProtection
from streams.identity.events import new_person_id
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
    outputs, [first] = feed.handle({**ZHANG, "id_number": ID_A})
    assert first == new_person_id("ev-0001#0")
    assert outputs[0].record["match_kind"] == "new_person" and outputs[0].topic == IDENTITY_TOPIC
    _, [second] = feed.handle({**ZHANG, "id_number": ID_A, "phone": "13812345678"})
    _, [third] = feed.handle({"name": "章伟", "date_of_birth": "1990-03-07", "phone": "13812345678"})
    _, [fourth] = feed.handle({"name": "張偉", "id_number": ID_A})  # traditional script, ID only
    assert first == second == third == fourth
    assert feed.processor.person_of("ev-0003#0", feed.state) == first


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


def test_bridge_record_merges_two_persons_survivor_is_first_seen(feed: Feed) -> None:
    _, [a] = feed.handle({**ZHANG, "id_number": ID_A})
    _, [b] = feed.handle({"name": "王芳", "phone": "13900001111", "gender": "female"})
    _, [c] = feed.handle({"name": "李娜", "phone": "13900002222", "gender": "female"})
    assert len({a, b, c}) == 3
    outputs, [joined] = feed.handle({**ZHANG, "id_number": ID_A, "phone": "13900001111"})
    # ID agrees with a; phone agrees with b but name, gender disagree -> no merge with b
    assert joined == a and [o.event_type for o in outputs] == ["PersonLinked"]
    d, e, bridge_key = liu_yang_bridge(feed)
    outputs, [bridge] = feed.handle(LIU_BRIDGE)
    merged = [o.record for o in outputs if o.event_type == "PersonsMerged"]
    assert len(merged) == 1 and merged[0]["surviving_person_id"] == d and merged[0]["retired_person_id"] == e
    assert bridge == d and outputs[-1].record["person_id"] == d
    assert feed.processor.person_of(e, feed.state) == d  # the retired id keeps resolving
    assert feed.processor.person_of(bridge_key, feed.state) == d


LIU_PHONE = {"name": "刘洋", "date_of_birth": "1985-06-01", "phone": "13700003333"}
LIU_ADDRESS = {"name": "刘洋", "date_of_birth": "1985-06-01", "address": "河北省保定市莲池区1号"}
LIU_BRIDGE = {**LIU_PHONE, **LIU_ADDRESS}


def liu_yang_bridge(feed: Feed) -> tuple[str, str, str]:
    """Other people named 刘洋 make the name common; then two records of one 刘洋 that share only the
    name and the date of birth stay apart. Returns their persons and the next record key."""
    for i in range(8):
        feed.handle({"name": "刘洋", "date_of_birth": f"19{70 + i}-01-0{i + 1}", "phone": f"1350000000{i}"})
    _, [d] = feed.handle(LIU_PHONE)
    _, [e] = feed.handle(LIU_ADDRESS)
    assert d != e  # a common name + date of birth alone is not enough
    return d, e, f"ev-{feed.n + 1:04d}#0"


def test_conflicting_valid_ids_never_merge(feed: Feed) -> None:
    same = {**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"}
    _, [a] = feed.handle({**same, "id_number": ID_A})
    _, [b] = feed.handle({**same, "id_number": ID_B})
    assert a != b
    explanation = feed.processor.explain_records("ev-0001#0", "ev-0002#0", feed.state)
    assert explanation.conflict
    # a record without an ID that matches both persons joins one and merges nothing
    outputs, [c] = feed.handle(same)
    assert c in (a, b) and not [o for o in outputs if o.event_type == "PersonsMerged"]


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
    snapshot = pickle.dumps(feed.state.tables)
    again, ids_again = feed.processor.resolve_event(event, feed.state)
    assert pickle.dumps(feed.state.tables) == snapshot
    assert ids == ids_again
    assert [o.record["envelope"]["event_id"] for o in first] == [o.record["envelope"]["event_id"] for o in again]
    assert {o.record["match_kind"] for o in again} == {"replay"}


def test_replay_is_deterministic(protection: PartyProtection) -> None:
    feed = Feed(protection)
    parties = [{**ZHANG, "id_number": ID_A}, {"name": "章伟", "date_of_birth": "1990-03-07"},
               {"name": "刘洋", "date_of_birth": "1985-06-01", "phone": "13700003333"},
               {"name": "刘洋", "phone": "13700003333", "gender": "male"}]
    events = [feed.event(p) for p in parties]
    runs = []
    for _ in range(2):
        processor, state = IdentityProcessor(), DictState()
        runs.append(([o.record for e in events for o in processor.handle(e, state)], pickle.dumps(state.tables)))
    assert runs[0] == runs[1]


def test_operator_split_keeps_persons_apart(feed: Feed) -> None:
    _, [a] = feed.handle({**ZHANG, "phone": "13812345678"})
    _, [b] = feed.handle({**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"})
    assert a == b
    outputs = feed.processor.split(a, ["ev-0002#0"], "operator_correction", "officer-7", feed.state, at_millis=1)
    split = outputs[0].record
    new = split["new_person_id"]
    assert split["person_id"] == a and split["record_keys"] == ["ev-0002#0"] and new != a
    assert feed.processor.person_of("ev-0002#0", feed.state) == new
    snapshot = pickle.dumps(feed.state.tables)
    assert [o.record for o in feed.processor.split(a, ["ev-0002#0"], "operator_correction", "officer-7",
                                                   feed.state, at_millis=1)] == [split]
    assert pickle.dumps(feed.state.tables) == snapshot
    # a later record matching both persons joins one of them; they are never merged again
    outputs, [c] = feed.handle({**ZHANG, "phone": "13812345678", "address": "北京市东城区东华门街道1号"})
    assert c in (a, new) and not [o for o in outputs if o.event_type == "PersonsMerged"]
    with pytest.raises(ValueError, match="not an occurrence"):
        feed.processor.split(a, ["nope#0"], "operator_correction", None, feed.state)


def test_removing_a_bridge_record_splits_the_person(feed: Feed) -> None:
    d, e, bridge_key = liu_yang_bridge(feed)
    feed.handle(LIU_BRIDGE)
    assert feed.processor.person_of(e, feed.state) == d
    e_key = "ev-0010#0"
    outputs = feed.processor.remove(bridge_key, feed.state, at_millis=5)
    records = [o.record for o in outputs]
    assert records[0]["new_person_id"] == "" and records[0]["record_keys"] == [bridge_key]
    assert records[1]["person_id"] == d and records[1]["record_keys"] == [e_key]
    assert feed.processor.person_of("ev-0009#0", feed.state) == d
    assert feed.processor.person_of(e_key, feed.state) == records[1]["new_person_id"]
    assert feed.processor.person_of(bridge_key, feed.state) is None


def test_organisations_are_not_resolved(feed: Feed) -> None:
    outputs, ids = feed.handle({"kind": "organisation", "name": "某某建筑公司", "id_number": "91110000X"},
                               {**ZHANG, "id_number": ID_A})
    assert ids[0].startswith("O") and ids[1].startswith("P")
    assert [o.record["record_key"] for o in outputs] == ["ev-0001#1"]


def test_outputs_validate_encode_and_hold_no_plaintext(feed: Feed) -> None:
    parties = [{**ZHANG, "id_number": ID_A, "phone": "13812345678", "address": "北京市东城区东华门街道1号"},
               {"name": "章伟", "date_of_birth": "1990-03-07", "phone": "13812345678"}]
    outputs = [o for p in parties for o in feed.handle(p, agency="court")[0]]
    liu_yang_bridge(feed)
    outputs += feed.handle(LIU_BRIDGE, agency="court")[0]
    parties += [LIU_BRIDGE]
    outputs += feed.processor.split(feed.processor.person_of("ev-0001#0", feed.state), ["ev-0002#0"],
                                    "operator_correction", "officer-7", feed.state, at_millis=1)
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
