"""The query API over a real county (generator -> connectors -> processors -> projector): find,
history, disputes, alerts; purpose binding, consent, masking with reasons; 401/403 audited;
security headers, body limit, metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from consent.access.audit import decode_record, read_trail, verify
from consent.access.users import UserRegistry
from hub.api.app import create_app
from tests.support.api_county import (
    County,
    build_county,
    grant_consent,
    headers,
    mediator_headers,
    party_of,
    search_body,
    withdraw_consent,
)
from tests.support.viewstore import VIEW_BACKENDS

DV_TYPES = {"DomesticViolenceWarningIssued", "ProtectionOrderIssued"}


@pytest.fixture(scope="module", params=VIEW_BACKENDS)
def county(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    """The same assertions on both view deployments: chDB in-process and ClickHouse over HTTP."""
    county = build_county(tmp_path_factory.mktemp("county"), persons=200, view_backend=request.param)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def mediator(county: County, **extra: str) -> dict[str, str]:
    return mediator_headers(county, **extra)


def last_audit(county: County) -> dict:
    records, _ = read_trail(county.hub.log)
    return decode_record(records[-1])


def test_history_is_one_timeline_across_agencies_newest_first(county: County, client: TestClient) -> None:
    person = county.parties[0]
    response = client.get(f"/api/v1/persons/{person}/history?limit=200", headers=mediator(county))
    assert response.status_code == 200, response.text
    data = response.json()
    entries = data["entries"]
    assert data["person_id"] == person and data["total"] == len(entries) > 3
    assert len({e["agency"] for e in entries}) >= 3
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    for entry in entries:
        assert entry["agency"] and entry["office_code"] and entry["occurred_at"] and entry["role"]
        assert entry["event_type"] in data["access"]["event_types"]
        assert "envelope" not in entry["fields"]
        assert all("protection" not in p for p in entry["fields"].get("parties", []))
    assert any(e["stage"] and e["dispute_id"] for e in entries)
    # a mediator without consent: no domestic-violence records, names masked because consent is needed
    assert not DV_TYPES & {e["event_type"] for e in entries}
    assert set(data["access"]["refused_event_types"]) == DV_TYPES
    me = entries[0]
    mask = {m["field"]: m for m in me["masked"]}[f"parties[{me['party_index']}].name"]
    assert mask == {"field": f"parties[{me['party_index']}].name", "class": "identifier", "reason": "needs_consent"}
    assert me["fields"]["parties"][me["party_index"]]["name"] == "***identifier"
    audit = last_audit(county)
    assert (audit["user"], audit["subject"], audit["case_id"], audit["decision"]) == \
        ("mediator.demo", person, county.case, "allowed")


def test_history_filters_and_pages(county: County, client: TestClient) -> None:
    person = county.parties[0]
    url = f"/api/v1/persons/{person}/history"
    everything = client.get(url, params={"limit": 200}, headers=mediator(county)).json()["entries"]
    agency = everything[0]["agency"]
    only = client.get(url, params={"agency": agency, "limit": 200}, headers=mediator(county)).json()
    assert only["entries"] and {e["agency"] for e in only["entries"]} == {agency}
    assert only["total"] == sum(e["agency"] == agency for e in everything)
    first, second = (client.get(url, params={"limit": 2, "offset": o}, headers=mediator(county)).json()
                     for o in (0, 2))
    assert [e["event_id"] for e in first["entries"] + second["entries"]] == [e["event_id"] for e in everything[:4]]
    assert first["total"] == len(everything)
    middle = everything[len(everything) // 2]["occurred_at"]
    since = client.get(url, params={"since": middle, "limit": 200}, headers=mediator(county)).json()
    assert since["entries"] and all(e["occurred_at"] >= middle for e in since["entries"])
    until = client.get(url, params={"until": middle, "limit": 200}, headers=mediator(county)).json()
    assert all(e["occurred_at"] < middle for e in until["entries"])
    assert since["total"] + until["total"] == len(everything)
    thread = next(e["dispute_id"] for e in everything if e["dispute_id"])
    in_thread = client.get(url, params={"dispute_id": thread, "limit": 200}, headers=mediator(county)).json()
    assert {e["dispute_id"] for e in in_thread["entries"]} == {thread}


def test_disputes_form_threads_across_agencies(county: County, client: TestClient) -> None:
    data = client.get(f"/api/v1/persons/{county.parties[0]}/disputes", headers=mediator(county)).json()
    assert data["disputes"]
    widest = max(data["disputes"], key=lambda d: len(d["agencies"]))
    assert len(widest["agencies"]) >= 2
    assert widest["stages"] == [e["stage"] for e in widest["events"]]
    assert [e["occurred_at"] for e in widest["events"]] == sorted(e["occurred_at"] for e in widest["events"])


def test_find_by_id_number_phone_and_name_dob(county: County, client: TestClient) -> None:
    person = county.parties[0]
    party = party_of(county.store, county.services, person)
    queries = [{"name": party["name"], "date_of_birth": party["date_of_birth"]}] if party["date_of_birth"] else []
    if party.get("id_number"):
        queries.append({"id_number": party["id_number"]})
    if party.get("phone"):
        queries.append({"phone": party["phone"]})
    for body in queries:
        response = client.post("/api/v1/persons/search", json=body, headers=mediator(county))
        assert response.status_code == 200, response.text
        found = response.json()
        assert person in [r["person_id"] for r in found["results"]], list(body)
        # the plaintext is neither echoed nor revealed beyond the caller's classes
        assert party["name"] not in response.text
        if party.get("id_number"):
            assert party["id_number"] not in response.text
    # an ID number failing its checksum finds nobody and says why
    bad = client.post("/api/v1/persons/search", json={"id_number": "110101199003070000"}, headers=mediator(county))
    assert bad.status_code == 200 and bad.json() == {"matched_by": "id_number", "results": [],
                                                     "problem": "id_number_invalid"}
    assert client.post("/api/v1/persons/search", json={"phone": "1", "name": "x"},
                       headers=mediator(county)).status_code == 422


def test_find_a_person_outside_the_case_finds_nobody_and_is_audited(county: County, client: TestClient) -> None:
    party = party_of(county.store, county.services, county.stranger)
    response = client.post("/api/v1/persons/search", json=search_body(party), headers=mediator(county))
    assert response.status_code == 200 and response.json()["results"] == []  # as for an unknown person
    assert party["name"] not in response.text
    audit = last_audit(county)
    assert (audit["subject"], audit["decision"], audit["reason"]) == (county.stranger, "denied", "not_party")


@pytest.mark.parametrize("change,status,reason", [
    ({"X-JustLink-Role": "judge"}, 403, "role_not_held"),
    ({"X-JustLink-Purpose": "adjudication"}, 403, "no_rule"),
    ({"X-JustLink-Case": "%EF%BC%882025%EF%BC%89%E6%97%A0%E6%AD%A4%E6%A1%88%E5%8F%B7"}, 403, "case_not_found"),
    ({"Authorization": "Bearer jl_not-a-token"}, 401, "unknown_token"),
    ({"Authorization": ""}, 401, "unknown_token"),
])
def test_wrong_token_role_purpose_or_case_is_refused_and_audited(county: County, client: TestClient, change: dict,
                                                                 status: int, reason: str) -> None:
    records_before = len(read_trail(county.hub.log)[0])
    sent = {**mediator(county), **change}
    response = client.get(f"/api/v1/persons/{county.parties[0]}/history", headers=sent)
    assert response.status_code == status
    assert response.json()["error"]["reason"] == reason
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    audit = last_audit(county)
    assert audit["seq"] == records_before and audit["status"] == status and audit["reason"] == reason
    assert response.json()["error"]["audit_seq"] == audit["seq"]


def test_no_case_and_expired_token(county: County, client: TestClient) -> None:
    no_case = client.get(f"/api/v1/persons/{county.parties[0]}/history", headers=mediator(county, **{
        "X-JustLink-Case": ""}))
    assert no_case.status_code == 403 and no_case.json()["error"]["reason"] == "no_case"
    with UserRegistry.open(county.data_dir) as registry:
        expired = registry.issue_token("mediator.demo", ttl=timedelta(seconds=1),
                                       now=datetime.now(UTC) - timedelta(hours=1)).token
    response = client.get(f"/api/v1/persons/{county.parties[0]}/history", headers=headers(expired, case=county.case))
    assert response.status_code == 401 and response.json()["error"]["reason"] == "expired_token"
    assert last_audit(county)["reason"] == "expired_token"


def test_consent_reveals_names_and_dv_records_and_withdrawal_is_immediate(county: County,
                                                                          client: TestClient) -> None:
    person = county.parties[0]
    url = f"/api/v1/persons/{person}/history"
    grant_consent(county, person, "consent-api-1")
    granted = client.get(url, params={"limit": 200}, headers=mediator(county)).json()
    assert granted["access"]["consent_id"] == "consent-api-1"
    assert set(granted["access"]["field_classes"]) == {"basic", "contact", "identifier", "sensitive"}
    me = granted["entries"][0]
    assert me["fields"]["parties"][me["party_index"]]["name"] == party_of(county.store, county.services,
                                                                         person)["name"]
    assert not any(m["reason"] == "needs_consent" for e in granted["entries"] for m in e["masked"])
    # least data: the consent is the subject's; the other parties of a record show their gender only
    shared = next(e for e in granted["entries"] if len(e["fields"]["parties"]) > 1)
    other = next(i for i in range(len(shared["fields"]["parties"])) if i != shared["party_index"])
    reasons = {m["field"]: m["reason"] for m in shared["masked"]}
    assert shared["fields"]["parties"][other]["name"] == "***identifier"
    assert reasons[f"parties[{other}].name"] == "other_party"
    dv_count = county.store.query_rows(
        "SELECT uniqExact(event_id) FROM timeline FINAL WHERE person_id = {p:String} AND event_type IN "
        "{t:Array(String)}", {"p": person, "t": sorted(DV_TYPES)})[0][0]
    assert sum(e["event_type"] in DV_TYPES for e in granted["entries"]) == dv_count
    withdraw_consent(county, person, "consent-api-1")
    withdrawn = client.get(url, params={"limit": 200}, headers=mediator(county)).json()
    assert withdrawn["access"]["consent_id"] is None
    assert not DV_TYPES & {e["event_type"] for e in withdrawn["entries"]}


def test_alerts_for_the_callers_role(county: County, client: TestClient) -> None:
    person = county.parties[0]
    now = datetime.now(UTC)
    existing = county.store.query_rows("SELECT count() FROM alerts FINAL WHERE person_id = {p:String}",
                                       {"p": person})[0][0]
    # Test fixture rows (as the alerts processor would project them): one for mediators, one for police.
    county.store.insert("alerts", [
        ["A-test-red", person, "", "repeated_divorce_with_dv", "red", "mediator", "open", now, now, ["e1", "e2"], 1, 0],
        ["A-test-police", person, "", "dv_repeat", "yellow", "police_officer", "open", now, now, ["e3"], 1, 0],
    ], ["alert_id", "person_id", "dispute_id", "rule", "level", "role", "status", "raised_at", "updated_at",
        "evidence", "version", "is_deleted"])
    data = client.get(f"/api/v1/persons/{person}/alerts", headers=mediator(county)).json()
    ids = [a["alert_id"] for a in data["alerts"]]
    assert "A-test-red" in ids and "A-test-police" not in ids and len(ids) <= existing + 1
    red = next(a for a in data["alerts"] if a["alert_id"] == "A-test-red")
    assert (red["level"], red["status"], red["evidence_count"]) == ("red", "open", 2)
    case = client.get("/api/v1/alerts", headers=mediator(county)).json()
    assert case["case_id"] == county.case and "A-test-red" in [a["alert_id"] for a in case["alerts"]]


def test_case_lists_its_parties(county: County, client: TestClient) -> None:
    data = client.get("/api/v1/case", headers=mediator(county)).json()
    assert data["case_id"] == county.case and data["open"] and data["kind"] == "mediation"
    assert sorted(p["person_id"] for p in data["parties"]) == sorted(county.parties)


def test_a_retired_id_reads_the_merged_persons_history(county: County, client: TestClient) -> None:
    merges = county.store.query_rows("SELECT retired_id, person_id FROM person_redirects FINAL LIMIT 1")
    assert merges, "the county has no merged persons"
    retired, live = merges[0]
    judge = county.tokens["judge.demo"]
    county.services.cases.apply_event("CaseFiled", {"case_number": "（2025）豫1730民初9001号", "person_ids": [live]})
    sent = headers(judge, role="judge", purpose="adjudication", case="（2025）豫1730民初9001号")
    data = client.get(f"/api/v1/persons/{retired}/history?limit=200", headers=sent).json()
    assert data["person_id"] == live and retired in data["ids"]
    retired_rows = county.store.query_rows("SELECT uniqExact(event_id) FROM timeline FINAL WHERE person_id = "
                                           "{p:String}", {"p": retired})[0][0]
    assert data["total"] >= retired_rows > 0


def test_break_glass_is_granted_flagged_and_reported_to_the_dpo(county: County, client: TestClient) -> None:
    police = county.tokens["police.demo"]
    reason = "嫌疑人持刀威胁，现场紧急核查其家暴前科"
    from hub.services.transport import encode_value

    sent = headers(police, role="police_officer", purpose="risk_prevention", case=None,
                   **{"X-JustLink-Break-Glass": encode_value(reason)})
    response = client.get(f"/api/v1/persons/{county.stranger}/history", headers=sent)
    assert response.status_code == 200 and response.json()["access"]["break_glass"]
    audit = last_audit(county)
    assert "break_glass" in audit["flags"] and reason not in json.dumps(audit, ensure_ascii=False)
    dpo = headers(county.tokens["dpo.demo"], role="dpo", purpose="audit", case=None)
    report = client.get("/api/v1/audit/report", params={"subject": county.stranger}, headers=dpo).json()
    use = next(u for u in report["break_glass"] if u["seq"] == audit["seq"])
    assert use["justification"] == reason and use["user"] == "police.demo"
    assert any(a["kind"] == "no_open_case" and a["subject"] == county.stranger for a in report["anomalies"])


def test_dpo_report_who_looked_at_this_person(county: County, client: TestClient) -> None:
    person = county.parties[0]
    client.get(f"/api/v1/persons/{person}/history", headers=mediator(county))
    dpo = headers(county.tokens["dpo.demo"], role="dpo", purpose="audit", case=None)
    response = client.get("/api/v1/audit/report", params={"subject": person}, headers=dpo)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["by_subject"][0]["subject"] == person and "mediator.demo" in report["by_subject"][0]["users"]
    assert all(a["subject"] == person for a in report["accesses"])
    assert {"dispute_mediation", "audit"} <= {p["purpose"] for p in report["by_purpose"]}
    csv_text = client.get("/api/v1/audit/export.csv", params={"section": "accesses", "subject": person},
                          headers=dpo)
    assert csv_text.status_code == 200 and csv_text.headers["content-type"].startswith("text/csv")
    assert csv_text.content.startswith("\ufeff".encode())   # the byte-order mark spreadsheets need
    lines = csv_text.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("seq,at,user,role") and len(lines) == len(report["accesses"]) + 2  # + this look
    # not for a mediator
    refused = client.get("/api/v1/audit/report", headers=headers(county.tokens["mediator.demo"], role="mediator",
                                                                 purpose="audit", case=None))
    assert refused.status_code == 403


def test_concurrent_requests(county: County, client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> int:
        person = county.parties[i % len(county.parties)]
        return client.get(f"/api/v1/persons/{person}/history", headers=mediator(county)).status_code

    before = len(read_trail(county.hub.log)[0])
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(48))) == {200}
    assert len(read_trail(county.hub.log)[0]) == before + 48


def test_the_audit_trail_verifies_after_all_that(county: County) -> None:
    county.services.trail.checkpoint()
    records, checkpoints = read_trail(county.hub.log)
    assert verify(records, checkpoints, county.services.trail.public_key).ok


def test_security_headers_body_limit_and_metrics(county: County, client: TestClient) -> None:
    response = client.get(f"/api/v1/persons/{county.parties[0]}/history", headers=mediator(county))
    for header in ("x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy"):
        assert header in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in client.get("/").headers["content-security-policy"]
    big = client.post("/api/v1/persons/search", content=b"{" + b" " * 100_000 + b"}",
                      headers={**mediator(county), "Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["error"]["reason"] == "body_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 1024

    streamed = client.post("/api/v1/persons/search", content=chunks(),
                           headers={**mediator(county), "Content-Type": "application/json"})
    assert streamed.status_code == 413
    client.get(f"/api/v1/persons/{county.stranger}/history", headers=mediator(county))  # a 403 not_party
    metrics = client.get("/metrics").text
    assert 'justlink_query_seconds_bucket{le="0.02",method="GET",route="/api/v1/persons/{person_id}/history"}' \
        in metrics
    assert 'justlink_access_denials_total{reason="not_party",status="403"}' in metrics
    assert county.parties[0] not in metrics


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/persons/search", "/api/v1/persons/{person_id}/history", "/api/v1/persons/{person_id}/disputes",
            "/api/v1/persons/{person_id}/alerts", "/api/v1/audit/report"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_cli_talks_to_a_running_server_and_gets_the_same_answers(county: County, client: TestClient,
                                                                 tmp_path) -> None:
    from hub.cli.remote import RemotePersonAccess, advertise, running_server, withdraw
    from hub.services.access import AccessRefused, Caller, PersonAccess

    assert running_server(tmp_path) is None
    advertise(tmp_path, "http://testserver")
    assert running_server(tmp_path) == "http://testserver"      # this process is alive
    withdraw(tmp_path)
    assert running_server(tmp_path) is None

    remote = RemotePersonAccess("http://testserver")
    remote.http = client   # the app in-process instead of a socket
    caller = Caller(county.tokens["mediator.demo"], "mediator", "dispute_mediation", county.case)
    person = county.parties[0]
    over_http = remote.history(caller, person)
    local = PersonAccess(county.services).history(caller, person)
    assert [e["event_id"] for e in over_http["entries"]] == [e["event_id"] for e in local["entries"]]
    assert remote.disputes(caller, person)["disputes"]
    with pytest.raises(AccessRefused) as refused:
        remote.history(Caller("not-a-token", "mediator", "dispute_mediation", county.case), person)
    assert refused.value.status == 401 and refused.value.audit_seq is not None
