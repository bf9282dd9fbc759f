"""Access control and secrets over a real county, beyond tests/app/test_api.py (which covers the
history route against a wrong token, role, purpose and case, and consent-extended fields):

- every data route refuses an unauthenticated, an unauthorised (role not held) and a wrong-purpose
  call, and each refusal is on the audit trail with its reason and the sequence number the body names;
- a rule whose legal basis is consent (legal aid) refuses before consent, allows with it, and refuses
  again at once after withdrawal — every decision audited;
- the audit trail's raw bytes and the data directory's files hold none of the identifiers searched
  for, nor the break-glass reason, nor any token or the master key;
- error bodies (401, 403, 404, 422, 413) echo no identifier or token and carry the security headers;
- no log line holds a token or the master key.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from consent.access.audit import decode_record, read_trail
from hub.api.app import create_app
from tests.support.api_county import (
    County,
    build_county,
    grant_consent,
    headers,
    mediator_headers,
    party_of,
    withdraw_consent,
)
from tests.support.scan import hits

ROUTES = [("POST", "/api/v1/persons/search"), ("GET", "/api/v1/persons/{p}/history"),
          ("GET", "/api/v1/persons/{p}/disputes"), ("GET", "/api/v1/persons/{p}/alerts"),
          ("GET", "/api/v1/case"), ("GET", "/api/v1/alerts"), ("GET", "/api/v1/audit/report"),
          ("GET", "/api/v1/audit/export.csv?section=accesses")]
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy",
                    "cross-origin-opener-policy", "permissions-policy")


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("security"), persons=80)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def audit_tail(county: County) -> dict:
    records, _ = read_trail(county.hub.log)
    return decode_record(records[-1])


def call(client: TestClient, county: County, method: str, route: str, sent: dict[str, str]):
    party = party_of(county.store, county.services, county.parties[0])
    body = {"id_number": party["id_number"]} if party.get("id_number") else {"phone": party["phone"]}
    url = route.format(p=county.parties[0])
    return client.request(method, url, headers=sent, json=body if method == "POST" else None)


@pytest.mark.parametrize("method,route", ROUTES, ids=[r for _, r in ROUTES])
@pytest.mark.parametrize("who,status,reason", [
    ("no token", 401, "unknown_token"),
    ("garbage token", 401, "unknown_token"),
    ("role not held", 403, "role_not_held"),
    ("wrong purpose", 403, "no_rule"),
])
def test_every_data_route_refuses_and_audits(county: County, client: TestClient, method: str, route: str,
                                             who: str, status: int, reason: str) -> None:
    dpo_route = "/audit/" in route
    token = county.tokens["dpo.demo" if dpo_route else "mediator.demo"]
    sent = headers(token, role="dpo", purpose="audit", case=None) if dpo_route else mediator_headers(county)
    if who == "no token":
        del sent["Authorization"]
    elif who == "garbage token":
        sent["Authorization"] = "Bearer jl_" + "A" * 43
    elif who == "role not held":
        sent["X-JustLink-Role"] = "judge"
    else:
        sent["X-JustLink-Purpose"] = "dispute_mediation" if dpo_route else "audit"
    before = len(read_trail(county.hub.log)[0])
    response = call(client, county, method, route, sent)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["reason"] == reason
    new = [decode_record(r) for r in read_trail(county.hub.log)[0][before:]]
    assert new, "the refusal was not audited"
    assert all(a["decision"] == "denied" for a in new)      # a case's routes check each party: all refused
    named = next(a for a in new if a["seq"] == error["audit_seq"])
    assert (named["status"], named["reason"]) == (status, reason)
    for header in SECURITY_HEADERS:
        assert header in response.headers


def test_consent_based_access_is_refused_granted_and_refused_again_after_withdrawal(
        county: County, client: TestClient) -> None:
    person = county.parties[1]
    county.services.cases.apply_event("LegalAidApplied", {"aid_number": "（2025）清法援字第901号",
                                                          "person_ids": [person]})
    sent = headers(county.tokens["legalaid.demo"], role="legal_aid_officer", purpose="legal_aid_eligibility",
                   case="（2025）清法援字第901号")
    url = f"/api/v1/persons/{person}/history"

    def outcome() -> tuple[int, str, dict]:
        response = client.get(url, headers=sent)
        audit = audit_tail(county)
        reason = response.json()["error"]["reason"] if response.status_code != 200 else "allowed"
        return response.status_code, reason, audit

    status, reason, audit = outcome()
    assert (status, reason) == (403, "no_consent") and (audit["decision"], audit["reason"]) == ("denied",
                                                                                                  "no_consent")
    grant_consent(county, person, "consent-aid-1", purpose="legal_aid_eligibility", role="legal_aid_officer",
                  classes=("basic", "contact", "identifier"))
    status, reason, audit = outcome()
    assert (status, reason) == (200, "allowed") and audit["decision"] == "allowed"
    withdraw_consent(county, person, "consent-aid-1")
    status, reason, audit = outcome()
    assert (status, reason) == (403, "no_consent"), "a withdrawn consent must take effect at once"
    assert (audit["decision"], audit["reason"], audit["subject"]) == ("denied", "no_consent", person)


def test_error_bodies_echo_no_identifier_and_no_token(county: County, client: TestClient) -> None:
    party = party_of(county.store, county.services, county.stranger)
    planted = {v for k, v in party.items() if k in ("name", "id_number", "phone") and v}
    token = county.tokens["mediator.demo"]
    mediator = mediator_headers(county)
    answers = [
        client.post("/api/v1/persons/search", json={"id_number": (party.get("id_number") or "1") * 3},
                    headers=mediator),                                            # 422: too long
        client.post("/api/v1/persons/search", json={"name": party["name"], "phone": [party["name"]]},
                    headers=mediator),                                            # 422: wrong type
        client.post("/api/v1/persons/search", json={"name": party["name"], "nickname": party["name"]},
                    headers=mediator),                                            # 422: extra field
        client.post("/api/v1/persons/search", json={"name": party["name"]}, headers=mediator),   # 422: no dob
        client.get(f"/api/v1/persons/{county.stranger}/history", headers=mediator),              # 403
        client.get(f"/api/v1/persons/{quote(party['name'])}/history", headers=mediator),         # 422
        client.get(f"/api/v1/persons/{county.stranger}/history",
                   headers={**mediator, "Authorization": "Bearer " + token + "x"}),                   # 401
        client.get(f"/api/v1/{quote(party['name'])}", headers=mediator),                         # 404
        client.post("/api/v1/persons/search", content=json.dumps({"name": party["name"] * 2000}).encode(),
                    headers={**mediator, "Content-Type": "application/json"}),                    # 413
    ]
    assert {r.status_code for r in answers} >= {401, 403, 404, 413, 422}
    assert answers[5].json()["error"]["reason"] == "malformed_person_id", "a name is no person id"
    trail = b"\n".join(read_trail(county.hub.log)[0])
    assert hits(trail, planted) == [], "a refused request put an identifier on the audit trail"
    for response in answers:
        assert response.status_code >= 400
        assert hits(response.content, planted) == [], f"{response.status_code} echoes an identifier"
        assert token not in response.text
        for header in SECURITY_HEADERS:
            assert header in response.headers, (response.status_code, header)


def test_audit_trail_data_files_and_logs_hold_no_identifier_token_or_key(county: County, client: TestClient,
                                                                         caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: set[str] = set()
    for person in [*county.parties, county.stranger]:
        party = party_of(county.store, county.services, person)
        secrets |= {v for k, v in party.items() if k in ("name", "id_number", "phone") and v and len(v) >= 2}
        for field in ("id_number", "phone"):
            if party.get(field):
                client.post("/api/v1/persons/search", json={field: party[field]}, headers=mediator_headers(county))
        if party.get("date_of_birth"):
            client.post("/api/v1/persons/search", json={"name": party["name"], "date_of_birth":
                                                        party["date_of_birth"]},
                        headers=mediator_headers(county))
    reason = f"嫌疑人持刀威胁，现场紧急核查 {party['name']} 的家暴前科与保护令"
    glass = headers(county.tokens["police.demo"], role="police_officer", purpose="risk_prevention", case=None,
                    **{"X-JustLink-Break-Glass": quote(reason)})
    assert client.get(f"/api/v1/persons/{county.stranger}/history", headers=glass).status_code == 200
    secrets.add(reason)
    tokens = set(county.tokens.values())
    key_text = (county.data_dir / "master.key").read_text().strip()
    keys = {key_text, base64.b64decode(key_text).hex()}

    records, checkpoints = read_trail(county.hub.log)
    trail = b"\n".join(records + checkpoints)
    assert b"AccessAudited" in trail and len(records) > 10
    assert hits(trail, secrets | tokens | keys) == [], "the audit trail holds an identifier, a token or the key"
    assert base64.b64decode(key_text) not in trail
    files = b"".join(p.read_bytes() for p in county.data_dir.rglob("*")
                     if p.is_file() and "county" not in p.relative_to(county.data_dir).parts
                     and "keystore" not in p.name and p.name != "master.key")
    assert hits(files, secrets | tokens | keys) == [], "a data file holds an identifier, a token or the key"
    logs = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records).encode()
    assert hits(logs, secrets | tokens | keys) == []
