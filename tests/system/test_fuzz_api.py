"""Fuzzing the query API's inputs through FastAPI's TestClient over a real county: routes, path
parameters, query strings, the caller headers (token, role, purpose, case, break-glass) and search
bodies of every shape (JSON of every type, wrong fields, oversized values, broken JSON, wrong
content types).

Hypothesis drives it, derandomized with explicit example counts. Every response must be an answer,
never a server error: 2xx, or a 4xx whose JSON body says why ({"error": {"reason": ...}} or
{"detail": [...]}) — and carry the security headers. No error body may echo the personal values the
fuzzer plants in the requests (a real party's name, ID number and phone).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.access.audit import read_trail
from hub.api.app import create_app
from tests.support.api_county import County, build_county, party_of

FUZZ_FACTOR = float(os.environ.get("JUSTLINK_FUZZ_FACTOR", "1"))
FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))
ALLOWED = {200, 400, 401, 403, 404, 405, 413, 422}
ERROR_COUNT: dict[int, int] = {}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("fuzz-api"), persons=80)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


@pytest.fixture(scope="module")
def planted(county: County) -> dict[str, str]:
    """A real party's identifiers, in clear: the fuzzer puts them in requests; errors must not echo them."""
    party = party_of(county.store, county.services, county.parties[0])
    return {k: party[k] for k in ("name", "id_number", "phone") if party.get(k) and len(party[k]) >= 2}


ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
ANY_TEXT = st.text(max_size=50)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=8)
SEARCH_KEYS = st.sampled_from(["id_number", "phone", "name", "date_of_birth", "extra", ""])
QUERY_KEYS = st.sampled_from(["limit", "offset", "since", "until", "agency", "event_type", "dispute_id", "section",
                              "user", "subject", "purpose"])
QUERY_VALUES = st.sampled_from(["0", "-1", "1", "200", "201", "100001", "1e3", "2025-02-30", "2025-01-01",
                                "2025-01-01T00:00:00Z", "court", "police", "accesses", "x" * 300, "", "%00",
                                "' OR 1=1 --", "{p:String}"]) | ANY_TEXT
ROUTES = ["search", "history", "disputes", "alerts", "case", "case_alerts", "me", "audit_report", "audit_export",
          "healthz", "metrics", "unknown"]


@st.composite
def requests(draw: st.DrawFn, tokens: list[str], persons: list[str], planted: list[str], case: str) -> dict[str, Any]:
    route = draw(st.sampled_from(ROUTES))
    person = draw(st.sampled_from(persons) | ANY_TEXT | st.sampled_from(planted))
    person_path = quote(person, safe="") or "%20"
    paths = {"search": "/api/v1/persons/search", "history": f"/api/v1/persons/{person_path}/history",
             "disputes": f"/api/v1/persons/{person_path}/disputes",
             "alerts": f"/api/v1/persons/{person_path}/alerts", "case": "/api/v1/case",
             "case_alerts": "/api/v1/alerts", "me": "/api/v1/me", "audit_report": "/api/v1/audit/report",
             "audit_export": "/api/v1/audit/export.csv", "healthz": "/healthz", "metrics": "/metrics",
             "unknown": f"/api/v1/{person_path}"}
    token = draw(st.sampled_from(tokens) | ASCII | st.sampled_from(planted))
    headers = {"Authorization": draw(st.sampled_from(["Bearer ", "bearer ", "Basic ", ""])) + token,
               "X-JustLink-Role": draw(st.sampled_from(["mediator", "judge", "police_officer", "dpo", ""]) | ASCII),
               "X-JustLink-Purpose": draw(st.sampled_from(["dispute_mediation", "adjudication", "audit",
                                                          "risk_prevention"]) | ASCII)}
    if draw(st.booleans()):
        headers["X-JustLink-Case"] = quote(draw(st.sampled_from([case, "（2025）无此调字第1号"]) | ANY_TEXT))
    if draw(st.integers(0, 9)) == 0:
        headers["X-JustLink-Break-Glass"] = quote(draw(ANY_TEXT | st.sampled_from(planted)))
    params = draw(st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES | st.sampled_from(planted)), max_size=4))
    method = "POST" if route == "search" else draw(st.sampled_from(["GET"] * 8 + ["POST", "DELETE"]))
    request: dict[str, Any] = {"method": method, "url": paths[route], "headers": headers, "params": params}
    if method == "POST":
        shape = draw(st.integers(0, 5))
        if shape <= 2:        # a JSON object, keys from the model and beyond
            body = draw(st.dictionaries(SEARCH_KEYS, JSON_VALUES | st.sampled_from(planted), max_size=4))
            request["content"] = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
        elif shape == 3:      # any JSON
            request["content"] = json.dumps(draw(JSON_VALUES)).encode()
        elif shape == 4:      # not JSON
            request["content"] = draw(st.binary(max_size=60))
        else:                 # oversized values
            request["content"] = json.dumps({draw(SEARCH_KEYS): "1" * draw(st.integers(30, 20_000))}).encode()
        request["headers"]["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain",
                                                                   "application/x-www-form-urlencoded"]))
    # raw UTF-8 bytes in headers, as a careless client sends them (the server reads them as latin-1)
    request["headers"] = {k: v.encode("utf-8") for k, v in request["headers"].items()}
    return request


def check_response(response: Any, planted: dict[str, str]) -> None:
    status = response.status_code
    assert status in ALLOWED, f"{status}: {response.text[:300]}"
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert "content-security-policy" in response.headers
    ERROR_COUNT[status] = ERROR_COUNT.get(status, 0) + 1
    if status >= 400:
        body = response.json()
        if "error" in body:
            assert body["error"]["status"] == status and body["error"]["reason"]
        else:
            assert body.get("detail"), body
        for value in planted.values():
            assert value not in response.text, f"a {status} error body echoes a planted personal value"


def test_fuzzed_requests_get_an_answer_never_a_server_error(county: County, client: TestClient,
                                                            planted: dict[str, str]) -> None:
    tokens = list(county.tokens.values())
    persons = [*county.parties, county.stranger]
    sent = 0

    @settings(FUZZ, max_examples=int(2000 * FUZZ_FACTOR))
    @given(requests(tokens, persons, list(planted.values()), county.case))
    def check(request: dict[str, Any]) -> None:
        nonlocal sent
        response = client.request(**request)
        sent += 1
        check_response(response, planted)

    check()
    print(f"\nAPI fuzz: {sent} requests, statuses {dict(sorted(ERROR_COUNT.items()))}")
    assert sent >= int(2000 * FUZZ_FACTOR)
    assert {200, 401, 403, 422} <= ERROR_COUNT.keys(), "the fuzzer must reach the gate's answers and the models'"
    records, _ = read_trail(county.hub.log)
    assert len(records) > 500, "the fuzzed requests were audited"
    assert not [v for v in planted.values() if v.encode() in b"\n".join(records)], \
        "a fuzzed request put a planted identifier on the audit trail"
