"""Dates are the agencies' local dates everywhere — the API's display fields, the CLI, the DPO report —
never the UTC date a day early, and date filters are read in the same zone (a setting, Asia/Shanghai by
default). Checked against the generated exports: a court step dated 节点日期 D is stored at 16:00 UTC on
the day before D, and must be shown on D."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.cli.main import cli
from runtime.settings import SettingsError, load_settings
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, mediator_headers

COURT_STEPS = {"CaseFiled": "立案", "DocumentsServed": "送达", "HearingHeld": "开庭", "JudgmentIssued": "结案"}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("county"), persons=150)
    yield county
    county.close()


@pytest.fixture(scope="module")
def client(county: County) -> Iterator[TestClient]:
    with TestClient(create_app(county.services)) as client:
        yield client


def export_dates(county: County) -> dict[tuple[str, str], str]:
    """(案号, 节点名称) -> 节点日期, as the court exported them."""
    with open(county.data_dir / "county" / "court" / "court_case_nodes.csv", encoding="utf-8", newline="") as f:
        return {(row["案号"], row["节点名称"]): row["节点日期"] for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def court_entry(county: County, client: TestClient) -> tuple[str, dict, str]:
    """A party of the mediator's case, one of their court records, and the date the court wrote on it."""
    dates = export_dates(county)
    for person in county.parties:
        entries = client.get(f"/api/v1/persons/{person}/history", params={"limit": 200},
                             headers=mediator_headers(county)).json()["entries"]
        for entry in entries:
            day = dates.get((entry["case_ref"], COURT_STEPS.get(entry["event_type"], "")))
            if entry["agency"] == "court" and day:
                return person, entry, day
    raise AssertionError("no court record among the parties' histories")


def run(county: County, *args: str, zone: str | None = None) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": county.tokens["mediator.demo"], "JUSTLINK_TIMEZONE": zone}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_the_api_shows_the_courts_date_not_the_utc_date(court_entry: tuple[str, dict, str]) -> None:
    _, entry, day = court_entry
    assert entry["occurred_at"].startswith(str(date.fromisoformat(day) - timedelta(days=1)))  # UTC: a day early
    assert entry["occurred_local"] == f"{day} 00:00"


def test_the_cli_shows_the_courts_date_and_reads_since_in_the_same_zone(
        county: County, court_entry: tuple[str, dict, str]) -> None:
    owner, entry, day = court_entry
    mediator = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", county.case)
    text = run(county, "person", "history", owner, *mediator, "--limit", "200", "--agency", "court")
    assert text.exit_code == 0, text.output
    assert any(line.startswith(day) and entry["event_type"] in line for line in text.output.splitlines())
    since = run(county, "person", "history", owner, *mediator, "--json", "--limit", "200", "--since", day)
    assert entry["event_id"] in {e["event_id"] for e in json.loads(since.output)["entries"]}
    after = str(date.fromisoformat(day) + timedelta(days=1))
    later = run(county, "person", "history", owner, *mediator, "--json", "--limit", "200", "--since", after)
    assert entry["event_id"] not in {e["event_id"] for e in json.loads(later.output)["entries"]}
    said = run(county, "person", "history", owner, *mediator, "--limit", "1", "--since", day)
    assert f"since {day} 00:00 Asia/Shanghai" in said.output


def test_the_zone_is_a_setting(county: County, court_entry: tuple[str, dict, str]) -> None:
    owner, entry, day = court_entry
    mediator = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", county.case)
    in_utc = json.loads(run(county, "person", "history", owner, *mediator, "--json", "--limit", "200",
                            zone="UTC").output)["entries"]
    same = next(e for e in in_utc if e["event_id"] == entry["event_id"])
    assert same["occurred_local"] == f"{date.fromisoformat(day) - timedelta(days=1)} 16:00"
    with pytest.raises(SettingsError, match="timezone"):
        load_settings(timezone="China/Beijing")


def test_the_dpo_report_shows_local_times(county: County, client: TestClient) -> None:
    from tests.support.api_county import headers

    report = client.get("/api/v1/audit/report", headers=headers(county.tokens["dpo.demo"], role="dpo",
                                                               purpose="audit")).json()
    assert report["zone"] == "Asia/Shanghai" and report["accesses"]
    access = report["accesses"][0]
    from datetime import datetime
    from zoneinfo import ZoneInfo

    at = datetime.fromisoformat(access["at"].replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
    assert access["at_local"] == at.strftime("%Y-%m-%d %H:%M:%S")
