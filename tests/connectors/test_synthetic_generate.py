"""End-to-end checks of `connectors.synthetic.generate`: determinism, encodings, event coverage,
references, ground truth, and the risk patterns the alert processors look for.

Assertion messages name record keys (case numbers) and counts only, never personal data."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from connectors.synthetic import ids
from connectors.synthetic.exporters import FILES
from connectors.synthetic.generator import generate
from connectors.synthetic.records import EVENT_TYPES

PERSONS, SEED = 3000, 11
ENCODINGS = {spec.path: spec.encoding for spec in FILES}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic")
    generate(path, PERSONS, SEED)
    return path


def read(out: Path, rel: str) -> list[dict[str, str]]:
    text = (out / rel).read_bytes().decode(ENCODINGS.get(rel, "utf-8"))
    return list(csv.DictReader(io.StringIO(text)))


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def exports(out: Path) -> dict[str, list[dict[str, str]]]:
    return {spec.path: read(out, spec.path) for spec in FILES}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(out: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", PERSONS, SEED)
    generate(tmp_path / "other", PERSONS, SEED + 1)
    assert digest(tmp_path / "again") == digest(out)
    assert digest(tmp_path / "other") != digest(out)


def test_encodings_are_as_documented(out: Path) -> None:
    civil = (out / "civil_affairs/marriage_registrations.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        civil.decode("utf-8")
    assert civil.decode("gb18030").startswith("业务编号,")
    assert (out / "police/police_incidents.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert not (out / "court/court_case_nodes.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_every_event_type_present_and_manifest_counts_match(out: Path, exports: dict) -> None:
    events = read(out, "truth/events.csv")
    present = {row["event_type"] for row in events}
    assert set(EVENT_TYPES) <= present, sorted(set(EVENT_TYPES) - present)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == SEED and manifest["persons"] == PERSONS
    for rel, rows in exports.items():
        assert manifest["files"][rel]["rows"] == len(rows), rel
    assert sum(manifest["event_types"].values()) == len(events)


def test_record_keys_unique_and_truth_covers_every_row_and_party(out: Path, exports: dict) -> None:
    party_counts: dict[tuple[str, str], int] = defaultdict(int)
    for row in read(out, "truth/persons.csv"):
        party_counts[(row["agency"], row["record_key"])] += 1
        assert row["true_person_id"][:1] in ("P", "O")
    disputes = {(r["agency"], r["record_key"]) for r in read(out, "truth/disputes.csv")}
    seen: set[tuple[str, str]] = set()
    for spec in FILES:
        key_column = spec.columns[0]
        name_columns = [prefix + suffix for prefix, fields in spec.party_groups
                        for suffix, field in fields if field == "name"]
        for row in exports[spec.path]:
            key = (spec.agency, row[key_column])
            assert key not in seen, key[1]
            seen.add(key)
            assert key in disputes, key[1]
            assert party_counts[key] == sum(1 for c in name_columns if row[c]), key[1]
    assert len(seen) == len(disputes)


def test_ids_consistent_with_birth_date_and_gender_and_unique_per_person(out: Path, exports: dict) -> None:
    truth = {(r["agency"], r["record_key"], int(r["party_index"])): r["true_person_id"]
             for r in read(out, "truth/persons.csv")}
    owner: dict[str, str] = {}
    checked = invalid = 0
    for spec in FILES:
        for row in exports[spec.path]:
            for position, (prefix, fields) in enumerate(spec.party_groups, start=1):
                columns = {field: prefix + suffix for suffix, field in fields}
                number = row.get(columns["id"], "")
                if len(number) != 18 or row.get(columns.get("kind", ""), "") == "法人":
                    continue
                if not ids.is_valid_id18(number):
                    invalid += 1
                    continue
                checked += 1
                person = truth[(spec.agency, row[spec.columns[0]], position)]
                assert owner.setdefault(number, person) == person, row[spec.columns[0]]
                if "birth" in columns:
                    assert row[columns["birth"]].replace("-", "") == number[6:14], row[spec.columns[0]]
                if "gender" in columns:
                    assert (row[columns["gender"]] == "男") == ids.id_gender_is_male(number), row[spec.columns[0]]
    assert checked > 1000
    assert 0.005 < invalid / (checked + invalid) < 0.05  # typo'd digits, about 2%


def test_police_often_lacks_id_numbers_and_names_carry_noise(out: Path, exports: dict) -> None:
    police = exports["police/police_incidents.csv"]
    slots = [(r["涉案人员1证件号码"]) for r in police if r["涉案人员1姓名"]]
    missing = sum(1 for number in slots if not number) / len(slots)
    assert 0.3 < missing < 0.5
    spellings: dict[str, set[str]] = defaultdict(set)
    people_per_name: dict[str, set[str]] = defaultdict(set)
    truth = {(r["agency"], r["record_key"], r["party_index"]): r["true_person_id"]
             for r in read(out, "truth/persons.csv")}
    for row in exports["court/court_case_nodes.csv"] + exports["justice/mediation_cases.csv"] + police:
        key = row.get("流程节点ID") or row.get("记录ID") or row["处警记录号"]
        agency = "court" if "流程节点ID" in row else ("justice" if "记录ID" in row else "police")
        for i in range(1, 5):
            name = row.get(f"当事人{i}名称") or row.get(f"当事人{i}姓名") or row.get(f"涉案人员{i}姓名")
            if name:
                person = truth[(agency, key, str(i))]
                spellings[person].add(name)
                people_per_name[name].add(person)
    assert sum(1 for s in spellings.values() if len(s) > 1) > 10  # same person, different spellings
    assert sum(1 for p in people_per_name.values() if len(p) > 1) > 10  # same name, different people


def _first_dates(exports: dict) -> dict[str, str]:
    """Agency record id -> date of its first row."""
    firsts: dict[str, str] = {}
    pairs = (("court/court_case_nodes.csv", "案号", "节点日期"), ("police/police_incidents.csv", "警情编号", "接警时间"),
             ("justice/mediation_cases.csv", "调解案件编号", "受理日期"))
    for rel, id_column, date_column in pairs:
        for row in exports[rel]:
            firsts.setdefault(row[id_column], row[date_column][:10])
    return firsts


def test_references_resolve_to_earlier_records(exports: dict) -> None:
    firsts = _first_dates(exports)
    refs: list[tuple[str, str, str]] = []  # (referencing key, referenced id, referencing date)
    for row in exports["justice/mediation_cases.csv"]:
        if row["来源单号"]:
            refs.append((row["记录ID"], row["来源单号"], row["环节日期"]))
    for row in exports["court/court_case_nodes.csv"]:
        if row["关联案号"]:
            refs.append((row["流程节点ID"], row["关联案号"], row["节点日期"]))
    for row in exports["justice/community_corrections.csv"]:
        refs.append((row["记录ID"], row["判决案号"], row["环节日期"]))
    for row in exports["justice/released_prisoners.csv"]:
        if row["原判法院"] == "清源县人民法院":
            refs.append((row["衔接编号"], row["原判案号"], row["接收日期"]))
    assert len(refs) > 300
    for key, target, when in refs:
        assert target in firsts, key
        assert firsts[target] <= when, key
    police_ids = {r["警情编号"] for r in exports["police/police_incidents.csv"]}
    referred = [r for r in exports["justice/mediation_cases.csv"] if r["案件来源"] == "公安移交"]
    assert referred and all(r["来源单号"] in police_ids for r in referred)


@pytest.mark.parametrize(("rel", "id_column", "time_column", "first_step"), [
    ("court/court_case_nodes.csv", "案号", "节点日期", ("立案", "司法确认", "保护令")),
    ("police/police_incidents.csv", "警情编号", "环节时间", ("接警登记",)),
    ("justice/mediation_cases.csv", "调解案件编号", "环节日期", ("受理",)),
    ("justice/community_corrections.csv", "矫正编号", "环节日期", ("接收",)),
    ("justice/legal_aid.csv", "援助案件编号", "环节日期", ("申请",)),
])
def test_steps_of_a_record_are_in_time_order(exports: dict, rel: str, id_column: str, time_column: str,
                                             first_step: tuple[str, ...]) -> None:
    last: dict[str, str] = {}
    step_column = "节点名称" if "节点名称" in exports[rel][0] else "环节"
    for row in exports[rel]:
        record = row[id_column]
        if record not in last:
            assert row[step_column] in first_step, record
        assert row[time_column] >= last.get(record, ""), record
        last[record] = row[time_column]


def _story_index(out: Path) -> tuple[dict, dict]:
    events = {(r["agency"], r["record_key"]): r["event_type"] for r in read(out, "truth/events.csv")}
    by_dispute: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in read(out, "truth/disputes.csv"):
        if r["true_dispute_id"]:
            by_dispute[r["true_dispute_id"]].append((r["agency"], r["record_key"]))
    return events, by_dispute


def _when(exports: dict) -> dict[tuple[str, str], datetime]:
    times: dict[tuple[str, str], datetime] = {}
    for row in exports["police/police_incidents.csv"]:
        times[("police", row["处警记录号"])] = datetime.fromisoformat(row["环节时间"])
    for row in exports["court/court_case_nodes.csv"]:
        times[("court", row["流程节点ID"])] = datetime.fromisoformat(row["节点日期"])
    for row in exports["justice/mediation_cases.csv"]:
        times[("justice", row["记录ID"])] = datetime.fromisoformat(row["环节日期"])
    for row in exports["justice/legal_aid.csv"]:
        times[("justice", row["记录ID"])] = datetime.fromisoformat(row["环节日期"])
    return times


def test_overdue_urgent_incidents_exist(out: Path, exports: dict) -> None:
    """DV or wage-arrears incidents with no mediation or court step within 72 hours."""
    events, by_dispute = _story_index(out)
    times = _when(exports)
    urgent = {("police", r["处警记录号"]) for r in exports["police/police_incidents.csv"]
              if r["警情类别"] in ("家庭暴力", "讨薪") and r["环节"] == "接警登记"}
    overdue = on_time = 0
    for records in by_dispute.values():
        for incident in (k for k in records if k in urgent):
            follow = [times[k] for k in records if events[k] in ("MediationCaseOpened", "CaseFiled") and k in times]
            fast = any(0 <= (t - times[incident]).total_seconds() <= 72 * 3600 for t in follow)
            on_time += fast
            overdue += not fast
    assert overdue > 5 and on_time > 5


def test_repeated_divorce_with_dv_and_corrections_with_new_incidents(out: Path, exports: dict) -> None:
    events = {(r["agency"], r["record_key"]): r["event_type"] for r in read(out, "truth/events.csv")}
    per_person: dict[str, list[str]] = defaultdict(list)
    for r in read(out, "truth/persons.csv"):
        per_person[r["true_person_id"]].append(events[(r["agency"], r["record_key"])])
    dv_keys = {("police", r["处警记录号"]) for r in exports["police/police_incidents.csv"] if r["警情类别"] == "家庭暴力"}
    dv_people = {r["true_person_id"] for r in read(out, "truth/persons.csv") if (r["agency"], r["record_key"]) in dv_keys}
    repeated = [p for p, evs in per_person.items() if evs.count("DivorceRegistered") >= 2 and p in dv_people]
    assert len(repeated) >= 2
    supervised = [p for p, evs in per_person.items()
                  if "CommunityCorrectionStarted" in evs and evs.count("IncidentReported") >= 2]
    assert supervised
