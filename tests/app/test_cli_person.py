"""`justlink person find|history|disputes`, `justlink alerts list` and `justlink audit report` over a
real county, under the same access rules as the API (the CLI opens its own services: the log and
keystore in the data directory, the views through the ClickHouse HTTP interface of this process's
chDB engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from hub.cli.main import cli
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, party_of


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=150)
    yield county
    county.close()


def run(county: County, *args: str, token: str | None = None, stdin: str | None = None) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": token or county.tokens["mediator.demo"]}
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def mediator(county: County) -> tuple[str, ...]:
    return ("--as", "mediator", "--purpose", "dispute_mediation", "--case", county.case)


def test_person_find_reads_the_identifier_from_stdin_and_never_prints_it(county: County) -> None:
    party = party_of(county.store, county.services, county.parties[0])
    kind, value = ("--id-number", party["id_number"]) if party.get("id_number") else ("--phone", party["phone"])
    result = run(county, "person", "find", kind, "-", *mediator(county), "--json", stdin=value + "\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["person_id"] for r in data["results"]] == [county.parties[0]]
    assert value not in result.output and party["name"] not in result.output
    text = run(county, "person", "find", kind, "-", *mediator(county), stdin=value + "\n")
    assert text.output.startswith(county.parties[0])


def test_person_history_text_and_json(county: County) -> None:
    person = county.parties[0]
    data = json.loads(run(county, "person", "history", person, *mediator(county), "--json", "--limit", "200").output)
    assert data["person_id"] == person and data["total"] == len(data["entries"]) > 3
    text = run(county, "person", "history", person, *mediator(county), "--limit", "5")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].startswith(f"{person}: {data['total']} records (showing 5 from 0)")
    assert "name [masked: needs_consent]" in text.output
    only = json.loads(run(county, "person", "history", person, *mediator(county), "--agency", "justice", "--json").output)
    assert only["entries"] and {e["agency"] for e in only["entries"]} == {"justice"}


def test_refusals_exit_non_zero_and_name_the_audit_record(county: County) -> None:
    result = run(county, "person", "history", county.parties[0], "--as", "mediator", "--purpose",
                 "dispute_mediation", "--case", "（2025）无此调字第1号")
    assert result.exit_code == 1 and "refused: 403 case_not_found (audit record #" in result.output
    stranger = run(county, "person", "history", county.stranger, *mediator(county))
    assert stranger.exit_code == 1 and "403 not_party" in stranger.output
    bad = run(county, "person", "history", county.parties[0], *mediator(county), token="jl_nope")
    assert bad.exit_code == 1 and "401 unknown_token" in bad.output


def test_person_disputes_and_alerts_list(county: County) -> None:
    threads = run(county, "person", "disputes", county.parties[0], *mediator(county))
    assert threads.exit_code == 0 and " -> " in threads.output
    alerts = run(county, "alerts", "list", *mediator(county), "--json")
    assert alerts.exit_code == 0, alerts.output
    data = json.loads(alerts.output)
    assert data["case_id"] == county.case
    assert all(a["role"] == "mediator" for a in data["alerts"])
    one = run(county, "alerts", "list", "--person", county.parties[0], *mediator(county))
    assert one.exit_code == 0


def test_audit_report_for_the_dpo_only(county: County) -> None:
    dpo = county.tokens["dpo.demo"]
    summary = run(county, "audit", "report", token=dpo)
    assert summary.exit_code == 0 and summary.output.startswith("accesses ")
    by_subject = run(county, "audit", "report", "--subject", county.parties[0], "--section", "accesses",
                     "--csv", "-", token=dpo)
    lines = by_subject.output.splitlines()
    assert lines[0].startswith("seq,at,user") and len(lines) > 2
    assert all(county.parties[0] in line for line in lines[1:])
    anomalies = json.loads(run(county, "audit", "report", "--json", token=dpo).output)["anomalies"]
    assert any(a["kind"] == "no_open_case" and a["subject"] == county.stranger for a in anomalies)
    refused = run(county, "audit", "report")  # a mediator's token
    assert refused.exit_code == 1 and "403" in refused.output
    public_key = county.data_dir.parent / f"{county.data_dir.name}-audit.pub"  # the DPO's copy, outside
    assert run(county, "audit", "export-key", "--out", str(public_key)).exit_code == 0
    verified = run(county, "audit", "verify", "--public-key", str(public_key))
    assert verified.exit_code == 0 and verified.output.startswith("OK")
