"""`justlink resolve`: CSV in, clusters out, through the same resolver; no plaintext in the output."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from consent.privacy.normalize import id_check_char
from hub.cli.main import cli
from streams.identity.profile import Profile, pack, unpack


def _id(area: str, birth: str, seq: str) -> str:
    return area + birth + seq + id_check_char(area + birth + seq)


ROWS = [
    # record_id, source, name, id_type, id_number, date_of_birth, gender, phone, address
    ("r1", "court", "张伟", "resident_id", _id("110101", "19900307", "451"), "1990-03-07", "male", "13812345678",
     "北京市东城区东华门街道1号"),
    ("r2", "police", "章伟", "", "", "1990-03-07", "男", "138 1234 5678", ""),
    ("r3", "justice", "張偉", "resident_id", _id("110101", "19900307", "451"), "", "", "", ""),
    ("r4", "civil_affairs", "张伟", "resident_id", _id("110101", "19900307", "453"), "1990-03-07", "male",
     "13812345678", "北京市东城区东华门街道1号"),
    ("r5", "police", "Ahmatjan·Tursun", "", "", "1978-11-02", "male", "13999990000", ""),
    ("r6", "court", "AHMATJAN • TURSUN", "passport", "E12345678", "1978-11-02", "", "+86 139 9999 0000", ""),
    ("r7", "court", "", "", "", "", "", "", ""),
]
HEADER = "record_id,source,name,id_type,id_number,date_of_birth,gender,phone,address"


def test_resolve_command_groups_records_without_plaintext(tmp_path: Path) -> None:
    source = tmp_path / "persons.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        handle.write(HEADER + "\n")
        csv.writer(handle).writerows(ROWS)
    target = tmp_path / "out" / "clusters.csv"
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "resolve", "--input", str(source),
                                      "--output", str(target), "--no-progress"])
    assert result.exit_code == 0, result.output
    with open(target, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["record_id"] for r in rows] == [r[0] for r in ROWS]
    person = {r["record_id"]: r["person_id"] for r in rows}
    assert person["r1"] == person["r2"] == person["r3"]
    assert person["r4"] != person["r1"]  # a different valid ID number: never the same person
    assert person["r5"] == person["r6"]
    assert person["r7"] not in (person["r1"], person["r4"], person["r5"])
    text = target.read_text(encoding="utf-8") + result.output
    for row in ROWS:
        for value in row[2:]:
            if value and value not in ("male", "resident_id", "passport"):
                assert value not in text


def test_resolve_command_names_a_bad_header(tmp_path: Path) -> None:
    source = tmp_path / "persons.csv"
    source.write_text("id,name\n1,x\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "resolve", "--input", str(source),
                                      "--output", str(tmp_path / "o.csv"), "--no-progress"])
    assert result.exit_code != 0
    assert "header lacks column(s) record_id, source" in result.output


def test_profile_pack_round_trip() -> None:
    profile = Profile("ab" * 16, True, None, "cd" * 16, "ef" * 16, "not-hex-index", 3, 2, 1 << 1000 | 5, None, 7)
    assert unpack(pack(profile)) == profile
