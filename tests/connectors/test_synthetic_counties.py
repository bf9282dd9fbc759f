"""Several counties of one prefecture (`generate(..., counties=K)`): people who move between them, one
truth for all, record keys unique across counties, connectors that stamp each county's code, and the
single county exactly as it always was.

Assertion messages name record keys, codes and counts only, never personal data."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.county import county_exports, county_of_number, export_county
from connectors.synthetic import addresses as geo
from connectors.synthetic import ids
from connectors.synthetic.exporters import FILES
from connectors.synthetic.generator import generate
from hub.cli.main import cli
from tests.support.county import agency_events, publish_county, read_truth

PERSONS, SEED, COUNTIES = 4500, 17, 3
# SHA-256 over (path, file digest) of `generate(out, 400, 2)`: the single county, byte for byte as it was
# before there were several (since then: the mediation export's 当事人关系 column; the prisons' release notices). Change it only when you mean
# to change the county everyone tests against.
ONE_COUNTY_400_2 = "02d4bb4e0170e406c8e17317cc0b3ef52fc5a544754e0032d9fc60d4282f3f25"


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prefecture")
    generate(path, PERSONS, SEED, counties=COUNTIES)
    return path


def export_rows(folder: Path) -> dict[str, list[dict[str, str]]]:
    return {spec.path: list(csv.DictReader(io.StringIO((folder / spec.path).read_bytes().decode(spec.encoding))))
            for spec in FILES}


@pytest.fixture(scope="module")
def exports(root: Path) -> dict[str, dict[str, list[dict[str, str]]]]:
    """division code -> file -> rows."""
    return {folder.name: export_rows(folder) for folder in county_exports(root)}


def test_one_county_is_unchanged_byte_for_byte(tmp_path: Path) -> None:
    generate(tmp_path / "default", 400, 2)
    generate(tmp_path / "one", 400, 2, counties=1)
    assert digest(tmp_path / "default") == ONE_COUNTY_400_2
    assert digest(tmp_path / "one") == ONE_COUNTY_400_2


def test_layout_one_folder_per_county_and_one_truth(root: Path, exports: dict) -> None:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    codes = [c["division_code"] for c in manifest["counties"]]
    assert codes == ["411730", "411731", "411732"] and sorted(exports) == codes
    assert sum(c["persons"] for c in manifest["counties"]) == PERSONS
    for county in manifest["counties"]:
        own = json.loads((root / county["folder"] / "manifest.json").read_text(encoding="utf-8"))
        assert own["county"]["division_code"] == county["division_code"]
        assert own["county"]["court_code"] == "豫" + county["division_code"][2:]
        for rel, rows in exports[county["division_code"]].items():
            assert own["files"][rel]["rows"] == len(rows), (county["division_code"], rel)
    assert not (root / "411730" / "truth").exists()
    assert {p.name for p in (root / "truth").iterdir()} == {"persons.csv", "disputes.csv", "events.csv",
                                                           "movers.csv", "README.md"}
    first = json.loads((root / "411730" / "manifest.json").read_text(encoding="utf-8"))["county"]
    assert first["name"] == "河南省驻马店市清源县" and first["court_name"] == "清源县人民法院"


def test_record_keys_unique_across_counties_and_truth_covers_every_row(root: Path, exports: dict) -> None:
    persons = read_truth(root, "persons.csv")
    parties: dict[tuple[str, str], int] = defaultdict(int)
    for row in persons:
        parties[(row["agency"], row["record_key"])] += 1
    truth = {(r["county"], r["agency"], r["record_key"]) for r in read_truth(root, "disputes.csv")}
    events = {(r["county"], r["agency"], r["record_key"]) for r in read_truth(root, "events.csv")}
    assert truth == events
    seen: dict[tuple[str, str], str] = {}
    for code, files in exports.items():
        for spec in FILES:
            names = [prefix + suffix for prefix, fields in spec.party_groups for suffix, f in fields if f == "name"]
            for row in files[spec.path]:
                key = (spec.agency, row[spec.columns[0]])
                assert key not in seen, (key[1], code, seen.get(key))
                seen[key] = code
                assert (code, *key) in truth, (code, key[1])
                assert parties[key] == sum(1 for c in names if row[c]), key[1]
    assert len(seen) == len(truth)


def test_movers_have_records_in_both_counties_under_one_true_id(root: Path, exports: dict) -> None:
    movers = {r["true_person_id"]: r for r in read_truth(root, "movers.csv")}
    assert 0.04 * PERSONS <= len(movers) <= 0.07 * PERSONS
    assert {r["story"] for r in movers.values()} == {"dispute", "family", "offender"}
    assert {(r["from_county"], r["to_county"]) for r in movers.values()} == {
        (a, b) for a in exports for b in exports if a != b}
    where: dict[str, set[str]] = defaultdict(set)
    keys: dict[str, list[tuple[str, str, str, int]]] = defaultdict(list)
    notice_persons: dict[tuple[str, str], str] = {}
    for row in read_truth(root, "persons.csv"):
        where[row["true_person_id"]].add(row["county"])
        notice_persons[(row["county"], row["record_key"])] = row["true_person_id"]
        if row["true_person_id"] in movers:
            keys[row["true_person_id"]].append((row["county"], row["agency"], row["record_key"],
                                                int(row["party_index"])))
    for code, files in exports.items():   # a release notice is routed to the registered residence's county
        for row in files["justice/release_notices.csv"]:
            where[notice_persons[(code, row["通知书编号"])]].add(row["接收地区划代码"])
    for pid, move in movers.items():
        assert {move["from_county"], move["to_county"]} <= where[pid], pid
    stayers = [pid for pid, counties in where.items() if pid.startswith("P") and pid not in movers and len(counties) > 1]
    assert stayers == []
    # the same resident id number in both counties' exports (valid ones only; clerks mistype some)
    rows_by_key = {(code, spec.agency, row[spec.columns[0]]): (spec, row)
                   for code, files in exports.items() for spec in FILES for row in files[spec.path]}
    same_id_in_both = 0
    for pid, occurrences in keys.items():
        numbers: dict[str, set[str]] = defaultdict(set)
        for code, agency, key, index in occurrences:
            spec, row = rows_by_key[(code, agency, key)]
            prefix, fields = spec.party_groups[index - 1]
            column = next(prefix + suffix for suffix, f in fields if f == "id")
            if ids.is_valid_id18(row[column]):
                numbers[code].add(row[column])
        valid = set().union(*numbers.values()) if numbers else set()
        assert len(valid) <= 1, pid
        same_id_in_both += len(numbers) == 2
    assert same_id_in_both > 0.5 * len(movers)


def test_cross_county_stories(root: Path, exports: dict) -> None:
    """Divorce at home and domestic violence in the new county; fraud tried in the new county and the
    released prisoner handed over to the home county's justice office."""
    movers = {r["true_person_id"]: r for r in read_truth(root, "movers.csv")}
    events = {(r["county"], r["agency"], r["record_key"]): r["event_type"] for r in read_truth(root, "events.csv")}
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in read_truth(root, "persons.csv"):
        move = movers.get(row["true_person_id"])
        if move is not None:
            side = "home" if row["county"] == move["from_county"] else "new"
            seen[(row["true_person_id"], side)].add(events[(row["county"], row["agency"], row["record_key"])])
    family = [pid for pid, m in movers.items() if m["story"] == "family"]
    assert sum("DivorceRegistered" in seen[(pid, "home")] and "DomesticViolenceWarningIssued" in seen[(pid, "new")]
               for pid in family) > 0.8 * len(family)
    courts = {code: geo.county(int(code) - 411730).court_name for code in exports}
    handed_over = 0
    for code, files in exports.items():
        for row in files["justice/released_prisoners.csv"]:
            court = row["原判法院"]
            if court in courts.values() and court != courts[code]:
                handed_over += 1
                other = next(c for c, name in courts.items() if name == court)
                cases = {r["案号"] for r in exports[other]["court/court_case_nodes.csv"]}
                assert row["原判案号"] in cases, row["衔接编号"]
    # the prison's release notice: in the sentencing county's export, routed to the home county; most are
    # received there (released_prisoners.csv above), some late, some never
    routed = 0
    for code, files in exports.items():
        cases = {r["案号"] for r in files["court/court_case_nodes.csv"]}
        for row in files["justice/release_notices.csv"]:
            if row["接收地区划代码"] != code:
                routed += 1
                assert row["接收地区划代码"] in exports and row["原判案号"] in cases, row["通知书编号"]
    assert routed == sum(m["story"] == "offender" for m in movers.values())
    assert 0.85 * routed <= handed_over <= routed


def test_counties_are_derived_from_their_index() -> None:
    first = geo.county(0)
    assert (first.name, first.code, first.court_code) == ("清源县", "411730", "豫1730")
    counties = [geo.county(i) for i in range(geo.MAX_COUNTIES)]
    assert [c.code for c in counties] == [str(411730 + i) for i in range(geo.MAX_COUNTIES)]
    assert len({c.name for c in counties}) == len({c.abbr for c in counties}) == geo.MAX_COUNTIES
    townships = [t[0] for c in counties for t in c.townships if t[0] != "城关镇"]
    assert len(townships) == len(set(townships))
    assert all(c.townships[0][0] == "城关镇" and 8 <= len(c.townships) <= 12 for c in counties)
    with pytest.raises(ValueError, match="county index"):
        geo.county(geo.MAX_COUNTIES)


def test_too_few_persons_per_county_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 100 per county"):
        generate(tmp_path, 250, 1, counties=3)


def test_connectors_stamp_every_event_with_its_county(root: Path, tmp_path: Path) -> None:
    publish_county(root, tmp_path / "data")
    county_of = {(r["agency"], r["record_key"]): r["county"] for r in read_truth(root, "events.csv")}
    for folder in county_exports(root):   # a release notice: the county it is routed to, not the export's
        with (folder / "justice/release_notices.csv").open(encoding="utf-8", newline="") as fh:
            county_of.update({("justice", row["通知书编号"]): row["接收地区划代码"] for row in csv.DictReader(fh)})
    events = agency_events(tmp_path / "data")
    assert len(events) > 0.9 * len(county_of)
    counted: dict[str, int] = defaultdict(int)
    for event in events:
        source = event.record["envelope"]["source"]
        expected = county_of[(source["agency"], event.record["envelope"]["source_record_key"])]
        assert source["county_code"] == expected, event.record["envelope"]["source_record_key"]
        if source["agency"] == "police":
            assert source["office_code"].startswith(expected)
        elif source["agency"] in ("court", "civil_affairs", "justice"):
            assert source["office_code"] == expected
        counted[expected] += 1
    assert sorted(counted) == ["411730", "411731", "411732"]


def test_county_from_the_manifest_or_the_agency_numbers(root: Path) -> None:
    county = export_county(root / "411731" / "court" / "court_case_nodes.csv")
    assert county is not None and county.division_code == "411731" and county.court_name == "临溪县人民法院"
    assert export_county(root) is None  # the root of several counties is no county
    assert county_of_number("J411731030000202502010001") == "411731"
    assert county_of_number("（2025）豫1732民初12号") == "411732"
    assert county_of_number("4117302025000123") == "411730"
    assert county_of_number("AZ41173120250007") == "411731"
    assert county_of_number("（2025）临城关调字第4号") == ""


def test_cli_connector_run_reads_every_county_folder(root: Path, tmp_path: Path) -> None:
    env = {"JUSTLINK_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init"], env=env).exit_code == 0
    result = runner.invoke(cli, ["connector", "run", "police", "--source", str(root), "--no-progress"], env=env)
    assert result.exit_code == 0, result.output[-500:]
    for code in ("411730", "411731", "411732"):
        assert f"police/{code}/police_incidents.csv" in result.output


def test_cli_generate_counties(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "generate", "--out", str(tmp_path / "out"),
                                      "--persons", "600", "--seed", "3", "--counties", "2", "--movers", "0.08",
                                      "--quiet"])
    assert result.exit_code == 0, result.output[-500:]
    manifest = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))
    assert [c["division_code"] for c in manifest["counties"]] == ["411730", "411731"]
    assert manifest["movers"]["persons"] == 48
