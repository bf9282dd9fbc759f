"""The command line gives the same answers with `justlink serve` up (it goes through the server, which
holds the views and the audit writer) and down (it opens the hub itself): every `person` command,
`alerts list --case` and `--person`, `audit report`, and the refusals — with the case number as the
county writes it, and unknown roles and purposes answered with the valid ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hub.cli.main import cli
from hub.cli.remote import RemotePersonAccess, running_server
from hub.services.access import PersonAccess
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, party_of
from tests.support.served import served


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


# how people type a case number the county writes （2025）城关调字第2号
TYPINGS = {
    "half-width brackets": lambda case: case.replace("（", "(").replace("）", ")"),
    "hexagonal brackets, a space": lambda case: case.replace("（", "〔").replace("）", "〕 "),
    "full-width digits": lambda case: case.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
}


def commands(county: County) -> dict[str, tuple[tuple[str, ...], str | None, str | None]]:
    """name -> (arguments, token, stdin)."""
    mediator = ("--as", "mediator", "--purpose", "dispute_mediation", "--case", county.case)
    person = county.parties[0]
    party = party_of(county.store, county.services, person)
    kind, value = ("--id-number", party["id_number"]) if party.get("id_number") else ("--phone", party["phone"])
    return {
        "find": (("person", "find", kind, "-", *mediator, "--json"), None, value + "\n"),
        "history": (("person", "history", person, *mediator, "--json", "--limit", "200"), None, None),
        "history text": (("person", "history", person, *mediator, "--limit", "5"), None, None),
        "disputes": (("person", "disputes", person, *mediator, "--json"), None, None),
        "case alerts": (("alerts", "list", *mediator, "--json"), None, None),
        "case alerts text": (("alerts", "list", *mediator), None, None),
        "person alerts": (("alerts", "list", "--person", person, *mediator, "--json"), None, None),
        "unknown role": (("person", "history", person, "--as", "调解员", "--purpose", "dispute_mediation",
                          "--case", county.case), None, None),
        "unknown purpose": (("alerts", "list", "--as", "mediator", "--purpose", "mediation", "--case", county.case),
                            None, None),
        "no such case": (("alerts", "list", "--as", "mediator", "--purpose", "dispute_mediation", "--case",
                          county.case.replace("号", "0号")), None, None),
        **{f"typed: {how}": (("alerts", "list", "--as", "mediator", "--purpose", "dispute_mediation", "--case",
                               typed(county.case), "--json"), None, None) for how, typed in TYPINGS.items()},
        "audit report": (("audit", "report", "--json"), county.tokens["dpo.demo"], None),
        "audit csv": (("audit", "report", "--section", "accesses", "--csv", "-"), county.tokens["dpo.demo"], None),
    }


def run_all(county: County) -> dict[str, Result]:
    return {name: run(county, *args, token=token, stdin=stdin)
            for name, (args, token, stdin) in commands(county).items()}


@pytest.fixture(scope="module")
def up(county: County) -> dict[str, Result]:
    with served(county.services, advertise_in_data_dir=True) as url:
        assert running_server(county.data_dir) == url
        return run_all(county)


@pytest.fixture(scope="module")
def down(county: County, up: dict[str, Result]) -> dict[str, Result]:
    assert running_server(county.data_dir) is None
    return run_all(county)


def without_audit_seq(text: str) -> str:
    import re

    return re.sub(r"audit record #\d+", "audit record #N", text)


@pytest.mark.parametrize("name", ["find", "history", "history text", "disputes", "case alerts",
                                  "case alerts text", "person alerts"])
def test_the_same_answer_with_the_server_up_and_down(up: dict[str, Result], down: dict[str, Result],
                                                     name: str) -> None:
    assert up[name].exit_code == 0, up[name].output
    assert down[name].exit_code == 0, down[name].output
    assert up[name].output == down[name].output


def test_case_alerts_name_the_case_as_the_county_writes_it(county: County, up: dict[str, Result]) -> None:
    data = json.loads(up["case alerts"].output)
    assert data["case_id"] == county.case


@pytest.mark.parametrize("how", TYPINGS)
def test_a_case_number_typed_another_way_opens_the_case_as_the_county_writes_it(
        county: County, up: dict[str, Result], down: dict[str, Result], how: str) -> None:
    typed = TYPINGS[how](county.case)
    assert county.case.startswith("（") and typed != county.case
    for result in (up[f"typed: {how}"], down[f"typed: {how}"]):
        assert result.exit_code == 0, result.output
        assert without_audit_seq(result.output) == without_audit_seq(up["case alerts"].output)


@pytest.mark.parametrize("name,expected", [
    ("unknown role", "refused: 403 unknown_role (audit record #N); valid: "),
    ("unknown purpose", "refused: 403 unknown_purpose (audit record #N); valid: dispute_mediation"),
    ("no such case", "refused: 403 case_not_found (audit record #N)"),
])
def test_refusals_are_the_same_and_list_the_valid_values(up: dict[str, Result], down: dict[str, Result],
                                                         name: str, expected: str) -> None:
    for result in (up[name], down[name]):
        assert result.exit_code == 1 and expected in without_audit_seq(result.output), result.output
    assert without_audit_seq(up[name].output) == without_audit_seq(down[name].output)
    if name == "unknown role":
        assert "correction_officer" in up[name].output and "mediator" in up[name].output


def test_audit_report_works_with_the_server_up_and_down(county: County, up: dict[str, Result],
                                                        down: dict[str, Result]) -> None:
    for result in (up["audit report"], down["audit report"]):
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(result.output)
        cases = {a["case_id"] for a in report["accesses"]}
        assert county.case in cases
        assert not cases & {typed(county.case) for typed in TYPINGS.values()}  # recorded as the county writes it
        assert report["summary"]["accesses"] > 0
    for result in (up["audit csv"], down["audit csv"]):
        assert result.exit_code == 0 and county.case in result.output


def test_the_remote_client_offers_every_read_of_the_local_one() -> None:
    public = {n for n in dir(PersonAccess) if not n.startswith("_") and callable(getattr(PersonAccess, n))}
    missing = {n for n in public - {"check", "require"} if not hasattr(RemotePersonAccess, n)}
    assert not missing, f"the CLI through a running server lacks {sorted(missing)}"
