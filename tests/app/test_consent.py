"""Consent recorded and withdrawn by the people who take it — the mediator at intake, the legal-aid
officer, the DPO — through the API and the CLI, as ConsentGranted / ConsentWithdrawn events: what it
unlocks shows on the next request, and its withdrawal takes effect on the very next one. Each step is
audited; someone outside the case cannot record a consent for a person."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from consent.access.audit import decode_record, read_trail
from hub.api.app import create_app
from hub.cli.main import cli
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers, mediator_headers, party_of

DV = {"DomesticViolenceWarningIssued", "ProtectionOrderIssued"}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=150)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def audit_tail(county: County, n: int) -> list[dict]:
    return [decode_record(r) for r in read_trail(county.hub.log)[0][-n:]]


def history(client: TestClient, county: County, person: str) -> dict:
    response = client.get(f"/api/v1/persons/{person}/history", params={"limit": 200},
                          headers=mediator_headers(county))
    assert response.status_code == 200, response.text
    return response.json()


def test_the_mediator_records_a_consent_at_intake_and_withdraws_it(county: County, client: TestClient) -> None:
    person = county.parties[0]
    before = client.get(f"/api/v1/persons/{person}/consents", headers=mediator_headers(county)).json()
    assert before["offered"]["field_classes"] == ["identifier", "sensitive"] and set(before["offered"]["event_types"]) == DV
    masked = history(client, county, person)
    me = masked["entries"][0]
    assert me["fields"]["parties"][me["party_index"]]["name"] == "***identifier"

    granted = client.post(f"/api/v1/persons/{person}/consents", headers=mediator_headers(county),
                          json={"field_classes": ["identifier", "sensitive"], "valid_until": "2099-12-31T23:59:59"})
    assert granted.status_code == 201, granted.text
    consent = granted.json()
    assert consent["active"] and consent["grantee_role"] == "mediator" and consent["purpose"] == "dispute_mediation"
    assert consent["unlocks"] == {"event_types": sorted(DV), "field_classes": ["identifier", "sensitive"]}
    assert consent["valid_until_local"] == "2099-12-31 23:59"
    [record] = audit_tail(county, 1)
    assert ("consent_granted" in record["flags"], record["subject"], record["case_id"]) == (True, person, county.case)

    unlocked = history(client, county, person)   # the very next request
    assert unlocked["access"]["consent_id"] == consent["consent_id"]
    me = unlocked["entries"][0]
    assert me["fields"]["parties"][me["party_index"]]["name"] == party_of(county.store, county.services, person)["name"]
    listed = client.get(f"/api/v1/persons/{person}/consents", headers=mediator_headers(county)).json()
    assert [c["consent_id"] for c in listed["consents"] if c["active"]] == [consent["consent_id"]]

    withdrawn = client.post(f"/api/v1/consents/{consent['consent_id']}/withdraw", headers=mediator_headers(county))
    assert withdrawn.status_code == 200 and not withdrawn.json()["active"] and withdrawn.json()["withdrawn_at"]
    assert "consent_withdrawn" in audit_tail(county, 1)[0]["flags"]
    again = history(client, county, person)      # the very next request
    assert again["access"]["consent_id"] is None and not DV & {e["event_type"] for e in again["entries"]}


def test_a_new_consent_replaces_the_one_in_force_so_one_withdrawal_closes_it(county: County,
                                                                            client: TestClient) -> None:
    person = county.parties[0]
    first = client.post(f"/api/v1/persons/{person}/consents", headers=mediator_headers(county),
                        json={"field_classes": ["identifier", "sensitive"]}).json()
    second = client.post(f"/api/v1/persons/{person}/consents", headers=mediator_headers(county),
                         json={"field_classes": ["identifier"]})  # recorded again, narrower: the latest word counts
    assert second.status_code == 201 and second.json()["replaces"] == [first["consent_id"]]
    assert [r["flags"] for r in audit_tail(county, 2)] == [["consent_withdrawn"], ["consent_granted"]]
    listed = client.get(f"/api/v1/persons/{person}/consents", headers=mediator_headers(county)).json()["consents"]
    assert [c["consent_id"] for c in listed if c["active"]] == [second.json()["consent_id"]]
    assert history(client, county, person)["access"]["field_classes"] == ["basic", "contact", "identifier"]
    client.post(f"/api/v1/consents/{second.json()['consent_id']}/withdraw", headers=mediator_headers(county))
    assert history(client, county, person)["access"]["consent_id"] is None  # nothing left open


def test_no_consent_for_a_stranger_a_scope_not_offered_or_a_past_date(county: County, client: TestClient) -> None:
    stranger = client.post(f"/api/v1/persons/{county.stranger}/consents", headers=mediator_headers(county),
                           json={"field_classes": ["identifier"]})
    assert stranger.status_code == 403 and stranger.json()["error"]["reason"] == "not_party"
    wide = client.post(f"/api/v1/persons/{county.parties[0]}/consents", headers=mediator_headers(county),
                       json={"field_classes": ["contact"]})
    assert wide.status_code == 422 and wide.json()["error"]["valid"] == ["identifier", "sensitive"]
    past = client.post(f"/api/v1/persons/{county.parties[0]}/consents", headers=mediator_headers(county),
                       json={"field_classes": ["identifier"], "valid_until": "2001-01-01"})
    assert past.status_code == 422 and past.json()["error"]["reason"] == "valid_until_in_the_past"


def test_the_dpo_records_a_consent_given_on_paper_with_its_reference(county: County, client: TestClient) -> None:
    person = county.parties[1]
    dpo = headers(county.tokens["dpo.demo"], role="dpo", purpose="consent_records", case="request:同意书-2025-017")
    no_ref = client.post(f"/api/v1/persons/{person}/consents", json={"field_classes": ["identifier"],
                         "purpose": "dispute_mediation"},
                         headers=headers(county.tokens["dpo.demo"], role="dpo", purpose="consent_records"))
    assert no_ref.status_code == 403 and no_ref.json()["error"]["reason"] == "needs_oversight_reference"
    offered = client.get(f"/api/v1/persons/{person}/consents", headers=dpo).json()["offered_by_purpose"]
    assert "mediator/dispute_mediation" in offered and "legal_aid_officer/legal_aid_eligibility" in offered
    made = client.post(f"/api/v1/persons/{person}/consents", headers=dpo,
                       json={"field_classes": ["identifier"], "purpose": "dispute_mediation"})
    assert made.status_code == 201, made.text
    assert made.json()["grantee_role"] == "mediator"
    entry = history(client, county, person)["entries"][0]
    assert entry["fields"]["parties"][entry["party_index"]]["name"] != "***identifier"
    assert client.post(f"/api/v1/consents/{made.json()['consent_id']}/withdraw", headers=dpo).status_code == 200


def run(county: County, *args: str) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": county.tokens["mediator.demo"]}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_cli_records_lists_and_withdraws(county: County) -> None:
    person = county.parties[1]
    mediator = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", county.case)
    granted = run(county, "consent", "grant", person, "--scope", "identifier", "--until", "2099-06-30", *mediator,
                  "--json")
    assert granted.exit_code == 0, granted.output
    consent = json.loads(granted.output)
    assert consent["valid_until_local"] == "2099-06-30 00:00" and consent["active"]
    listed = run(county, "consent", "list", person, *mediator)
    assert listed.exit_code == 0 and f"{consent['consent_id']}  active" in listed.output
    assert "a consent for dispute_mediation would unlock: identifier, sensitive" in listed.output
    withdrawn = run(county, "consent", "withdraw", consent["consent_id"], *mediator)
    assert withdrawn.exit_code == 0 and withdrawn.output.startswith("withdrawn: " + consent["consent_id"])
    refused = run(county, "consent", "grant", county.stranger, "--scope", "identifier", *mediator)
    assert refused.exit_code == 1 and "403 not_party" in refused.output
