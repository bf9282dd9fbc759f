"""No existence oracle: a case worker searching an identifier of a person who is not a party of their case
gets the very answer an identifier nobody has gets — same status, same body, the same work (one audited
check) — while the DPO sees the attempt. And the DPO cannot turn an ID number into a person id without
naming a complaint or audit case; when they do, the look-up is flagged in their own report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from connectors.synthetic.ids import make_id18
from consent.access.audit import decode_record, read_trail
from hub.api.app import create_app
from hub.services import queries
from hub.services.access import AccessRefused, Caller, PersonAccess, audit_report_for
from tests.support.api_county import County, build_county, headers, party_of

COMPLAINT = "complaint:（2025）清源投诉第3号"


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("oracle"), persons=80, seed=11)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def _unused_id_number(county: County, like: str) -> str:
    """A valid ID number (right check digit, same county and birth date) that nobody in the hub has."""
    birth = date(int(like[6:10]), int(like[10:12]), int(like[12:14]))
    for sequence in range(999, 0, -1):
        candidate = make_id18(like[:6], birth, sequence)
        bi, valid = county.services.protector.blind.id_number(candidate)
        if valid and not queries.find_person_ids(county.store, "id_number", bi):
            return candidate
    raise AssertionError("no unused ID number found")


def _stranger_with_id(county: County) -> dict:
    rows = county.store.query_rows(
        "SELECT DISTINCT person_id FROM timeline FINAL WHERE person_id NOT IN {p:Array(String)} ORDER BY person_id",
        {"p": county.parties})
    for (person,) in rows:
        party = party_of(county.store, county.services, person)
        if party.get("id_number") and party.get("phone"):
            return {**party, "person_id": person}
    raise AssertionError("no stranger with an ID number and a phone")


def _search(client: TestClient, county: County, body: dict, sent: dict) -> tuple[int, dict, int]:
    before = len(read_trail(county.hub.log)[0])
    response = client.post("/api/v1/persons/search", json=body, headers=sent)
    audited = len(read_trail(county.hub.log)[0]) - before
    return response.status_code, response.json(), audited


def test_not_a_party_and_unknown_person_are_indistinguishable(county: County, client: TestClient) -> None:
    stranger = _stranger_with_id(county)
    mediator = headers(county.tokens["mediator.demo"], case=county.case)
    unknown_phone = "1" + stranger["phone"][1:3] + "00000000"
    pairs = [({"id_number": stranger["id_number"]}, {"id_number": _unused_id_number(county, stranger["id_number"])}),
             ({"phone": stranger["phone"]}, {"phone": unknown_phone})]
    if stranger.get("date_of_birth"):
        pairs.append(({"name": stranger["name"], "date_of_birth": stranger["date_of_birth"]},
                      {"name": stranger["name"] + "某", "date_of_birth": stranger["date_of_birth"]}))
    for existing, nobody in pairs:
        seen = _search(client, county, existing, mediator)
        unseen = _search(client, county, nobody, mediator)
        assert seen == unseen, (list(existing), seen, unseen)  # status, body and audited work alike
        assert seen[0] == 200 and seen[1]["results"] == []
    # the DPO still sees who was looked for: the refusal is on the trail, with the subject
    trail = [decode_record(r) for r in read_trail(county.hub.log)[0]]
    assert any(a["subject"] == stranger["person_id"] and a["reason"] == "not_party" for a in trail)


def test_a_party_of_the_case_is_still_found(county: County, client: TestClient) -> None:
    party = party_of(county.store, county.services, county.parties[0])
    body = {"id_number": party["id_number"]} if party.get("id_number") else {"phone": party["phone"]}
    status, found, _ = _search(client, county, body, headers(county.tokens["mediator.demo"], case=county.case))
    assert status == 200 and county.parties[0] in [r["person_id"] for r in found["results"]]


def test_a_dpo_look_up_by_identifier_needs_a_complaint_or_audit_case(county: County) -> None:
    """Through the services the API and the CLI share (how a Chinese case number travels in a header is
    the caller-context transport's business)."""
    stranger = _stranger_with_id(county)
    access = PersonAccess(county.services)
    dpo = county.tokens["dpo.demo"]
    for case in (None, "（2025）城关调字第2号", "complaint:"):
        for body in ({"id_number": stranger["id_number"]},
                     {"id_number": _unused_id_number(county, stranger["id_number"])}):
            with pytest.raises(AccessRefused) as refused:
                access.find(Caller(dpo, "dpo", "audit", case), **body)
            assert (refused.value.status, refused.value.reason) == (403, "lookup_needs_reason"), case
    answer = access.find(Caller(dpo, "dpo", "audit", COMPLAINT), id_number=stranger["id_number"])
    assert [r["person_id"] for r in answer["results"]] == [stranger["person_id"]]
    assert stranger["name"] not in json.dumps(answer, ensure_ascii=False)  # the DPO sees no record contents
    looked = decode_record(read_trail(county.hub.log)[0][-1])
    assert (looked["case_id"], looked["subject"], looked["decision"]) == (COMPLAINT, stranger["person_id"], "allowed")
    assert "identifier_lookup" in looked["flags"]

    report = audit_report_for(access, Caller(dpo, "dpo", "audit"))
    lookups = [a for a in report["anomalies"] if a["kind"] == "identifier_lookup"]
    assert any(a["subject"] == stranger["person_id"] and COMPLAINT in a["detail"] for a in lookups)
    assert sum("被拒绝" in a["detail"] for a in lookups) >= 6
