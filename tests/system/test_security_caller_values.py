"""Attacks on what the caller sends about itself (issue 14, point 2): an ID number typed into the case
box, a phone number sent as the purpose, a 10 KB header, bytes that are not UTF-8, a bidi override —
with a token and without. Each is refused (400 for an invalid value, 401 / 403 as before for an unknown
one) and audited, and the trail, the DPO report and its CSV keep only the value's length and a keyed
hash, never its bytes. A case number as the agency writes it goes through and is recorded exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from consent.access.audit import decode_record, read_trail
from hub.api.app import create_app
from hub.services.transport import encode_value
from tests.support.api_county import County, build_county, headers, mediator_headers, party_of
from tests.support.scan import hits


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=150)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


@pytest.fixture(scope="module")
def identifiers(county: County) -> dict[str, str]:
    """A real party's ID number and phone, as an attacker (or a careless clerk) would type them."""
    for person in [*county.parties, county.stranger]:
        party = party_of(county.store, county.services, person)
        if party.get("id_number") and party.get("phone"):
            return {"id_number": party["id_number"], "phone": party["phone"]}
    raise AssertionError("no party with both an ID number and a phone in the county")


def new_records(county: County, before: int) -> list[dict]:
    return [decode_record(r) for r in read_trail(county.hub.log)[0][before:]]


def trail_size(county: County) -> int:
    return len(read_trail(county.hub.log)[0])


def history(client: TestClient, county: County, sent: dict[str, str | bytes]):
    return client.get(f"/api/v1/persons/{county.parties[0]}/history", headers=sent)


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no token"])
def test_an_id_number_sent_as_the_case_leaves_only_its_length_and_a_keyed_hash(
        county: County, client: TestClient, identifiers: dict[str, str], with_token: bool) -> None:
    id_number = identifiers["id_number"]
    sent = headers(county.tokens["mediator.demo"] if with_token else "", case=id_number)
    if not with_token:
        del sent["Authorization"]
    before = trail_size(county)
    response = history(client, county, sent)
    assert response.status_code == (403 if with_token else 401)
    assert response.json()["error"]["reason"] == ("case_not_found" if with_token else "unknown_token")
    [record] = new_records(county, before)
    assert record["case_id"] == ""
    [withheld] = record["withheld"]
    assert withheld["field"] == "case_id" and withheld["problem"] == "unknown" and withheld["length"] == 18
    assert len(withheld["hmac"]) == 32
    raw = json.dumps(record, ensure_ascii=False).encode()
    assert hits(raw, {id_number, id_number[-8:]}) == [] and id_number not in response.text


def test_the_keyed_hash_tells_values_apart_and_is_no_plain_digest(county: County, client: TestClient,
                                                                   identifiers: dict[str, str]) -> None:
    import hashlib

    before = trail_size(county)
    for case in (identifiers["id_number"], identifiers["id_number"], identifiers["phone"]):
        history(client, county, headers(county.tokens["mediator.demo"], case=case))
    first, again, other = (r["withheld"][0]["hmac"] for r in new_records(county, before))
    assert first == again != other
    assert first not in hashlib.sha256(identifiers["id_number"].encode()).hexdigest()


def test_a_phone_sent_as_the_purpose_is_withheld_and_the_valid_purposes_are_listed(
        county: County, client: TestClient, identifiers: dict[str, str]) -> None:
    before = trail_size(county)
    response = history(client, county, mediator_headers(county, **{"X-JustLink-Purpose": identifiers["phone"]}))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["reason"] == "unknown_purpose" and error["valid"] == ["dispute_mediation"]
    [record] = new_records(county, before)
    assert record["purpose"] == "" and record["withheld"][0]["field"] == "purpose"
    assert identifiers["phone"] not in json.dumps(record)
    role = history(client, county, mediator_headers(county, **{"X-JustLink-Role": encode_value("调解员")}))
    assert role.status_code == 403 and role.json()["error"]["reason"] == "unknown_role"
    assert "mediator" in role.json()["error"]["valid"] and "调解员" not in json.dumps(new_records(county, before)[-1])


@pytest.mark.parametrize("header,value,problem", [
    ("X-JustLink-Case", "案" * 5000, "too_long"),
    ("X-JustLink-Case", "%FF%FE%FD", "undecodable"),
    ("X-JustLink-Case", "（2025）城关调字第2号".encode(), "undecodable"),     # raw UTF-8, not percent-encoded
    ("X-JustLink-Case", encode_value("（2025）城关\u202e调字第2号"), "bad_character"),   # a bidi override
    ("X-JustLink-Case", encode_value("（2025）城关调字\n第2号"), "bad_character"),
    ("X-JustLink-Purpose", "%C3%28", "undecodable"),
    ("X-JustLink-Break-Glass", encode_value("理由" * 600), "too_long"),
], ids=["10KB case", "invalid UTF-8", "raw UTF-8", "bidi override", "newline", "bad purpose", "long reason"])
def test_an_invalid_value_is_a_clear_400_audited_without_its_bytes(county: County, client: TestClient,
                                                                  header: str, value: str | bytes,
                                                                  problem: str) -> None:
    if isinstance(value, str) and header == "X-JustLink-Case" and problem == "too_long":
        value = encode_value(value)
    before = trail_size(county)
    response = history(client, county, mediator_headers(county, **{header: value}))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    field = {"X-JustLink-Case": "case_id", "X-JustLink-Purpose": "purpose",
             "X-JustLink-Break-Glass": "break_glass_reason"}[header]
    assert (error["reason"], error["rule"]) == (f"invalid_{field}", problem)
    [record] = new_records(county, before)
    assert (record["status"], record["reason"], record["decision"]) == (400, f"invalid_{field}", "denied")
    assert error["audit_seq"] == record["seq"]
    withheld = next(w for w in record["withheld"] if w["field"] == field)
    assert withheld["problem"] == problem and withheld["length"] > 0
    encoded = json.dumps(record, ensure_ascii=False)
    assert len(encoded) < 2000, "the audit record grew with the header"
    assert "理由" not in encoded and "案案" not in encoded
    assert field != "case_id" or "调字" not in encoded   # (with a valid case header, the known case is kept)
    assert ("hmac" in withheld) == (field != "break_glass_reason")   # a reason is free text: length only


def test_a_case_number_as_the_agency_writes_it_is_recorded_exactly_and_reported(county: County,
                                                                               client: TestClient) -> None:
    assert county.case.startswith("（") and "调字第" in county.case
    before = trail_size(county)
    response = client.get("/api/v1/case", headers=mediator_headers(county))
    assert response.status_code == 200, response.text
    assert response.json()["case_id"] == county.case
    records = new_records(county, before)
    assert records and {r["case_id"] for r in records} == {county.case} and not any(r["withheld"] for r in records)
    dpo = headers(county.tokens["dpo.demo"], role="dpo", purpose="audit")
    report = client.get("/api/v1/audit/report", params={"user": "mediator.demo"}, headers=dpo).json()
    assert county.case in {a["case_id"] for a in report["accesses"]}
    exported = client.get("/api/v1/audit/export.csv", params={"section": "accesses", "user": "mediator.demo"},
                          headers=dpo)
    assert county.case in exported.content.decode("utf-8-sig")
