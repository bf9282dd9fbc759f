"""No plaintext personal data where tests/system/test_no_plaintext.py does not look: dead letters' reasons
(fields, positions, reasons of records whose personal values are themselves malformed), the CLI's
output (`connector run` summaries and `connector dead-letters`), and the logs of those runs.

The county's exports get their personal columns broken on purpose — ID numbers with wrong check
characters or letters, phone numbers with letters or too many digits, names too long or with control
characters, impossible dates of birth — so that the values themselves are what the SDK must reject.
Every such value and every original value is then searched for in the raw bytes."""

from __future__ import annotations

import csv
import io
import logging
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.sdk.deadletter import DeadLetter
from connectors.synthetic.exporters import FILES, FileSpec
from connectors.synthetic.generator import generate
from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog
from tests.system.test_no_plaintext import PERSONAL_SUFFIXES, hits

ID_SUFFIXES = ("证件号码", "身份证号")
PHONE_SUFFIXES = ("联系电话",)
NAME_SUFFIXES = ("姓名", "名称")
DOB_SUFFIXES = ("出生日期",)


def is_personal(column: str) -> bool:
    return column.endswith(PERSONAL_SUFFIXES + DOB_SUFFIXES) and column != "节点名称"


def broken(column: str, value: str, rng: random.Random) -> str:
    """A malformed variant of a personal value, still recognisably that person's."""
    if column.endswith(ID_SUFFIXES) and len(value) == 18:
        last = "0123456789X".replace(value[-1], "")
        return rng.choice([value[:17] + rng.choice(last), value[:16] + "Q" + value[17], value + "77"])
    if column.endswith(PHONE_SUFFIXES) and value:
        return rng.choice([value + "99", value[:5] + "ABC" + value[5:], "+" + value + "#"])
    if column.endswith(NAME_SUFFIXES) and value:
        return rng.choice([value * 30, value + "\x07", value + "\u202e"])
    if column.endswith(DOB_SUFFIXES) and value:
        return value[:5] + "02-30"
    return value


def break_export(county: Path, spec: FileSpec, rng: random.Random) -> set[str]:
    """Rewrite the export with one or two personal values broken per row; returns every personal value
    the file holds, broken or not."""
    path = county / spec.path
    with path.open(encoding=spec.encoding, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    secrets: set[str] = set()
    personal = [i for i, c in enumerate(header) if is_personal(c)]
    for row in rows:
        filled = [i for i in personal if row[i]]
        for i in rng.sample(filled, min(len(filled), rng.randint(1, 2))):
            row[i] = broken(header[i], row[i], rng)
        for i in personal:
            if len(row[i].strip()) >= 2 and not header[i].endswith(DOB_SUFFIXES):
                if header[i].endswith("名称") and row[i].endswith(("公司", "医院", "政府", "中心", "局")):
                    continue  # organisations' names are not personal data
                secrets.add(row[i].strip())
                secrets.add(row[i].strip()[:18])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(spec.encoding if spec.encoding != "utf-8-sig" else "utf-8",
                                              errors="replace"))
    return {s for s in secrets if len(s) >= 2}


@pytest.fixture(scope="module")
def broken_county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    county = tmp_path_factory.mktemp("broken-county")
    generate(county, 200, seed=33)
    rng = random.Random(8)
    secrets: set[str] = set()
    for spec in FILES:
        secrets |= break_export(county, spec, rng)
    return county, secrets


def test_dead_letters_cli_output_and_logs_hold_no_personal_values(broken_county: tuple[Path, set[str]],
                                                                  tmp_path: Path, caplog) -> None:
    county, secrets = broken_county
    assert len(secrets) > 300
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    env = {"JUSTLINK_DATA_DIR": str(data), "JUSTLINK_MASTER_KEY": None}
    runner = CliRunner()
    output = runner.invoke(cli, ["keys", "init"], env=env, catch_exceptions=False).output
    for agency in ("court", "police", "civil_affairs", "justice"):
        result = runner.invoke(cli, ["connector", "run", agency, "--source", str(county), "--no-progress"],
                               env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output[-500:]
        assert "dead-lettered" in result.output
        output += result.output
        listed = runner.invoke(cli, ["connector", "dead-letters", agency, "--limit", "5000"], env=env,
                               catch_exceptions=False)
        output += listed.output
    assert output.count("check character") + output.count("digits") > 10, "the personal values were rejected"
    assert hits(output.encode(), secrets) == [], "the CLI printed personal values"

    letters: list[DeadLetter] = []
    with EmbeddedEventLog(data / "log.db") as log:
        for agency in ("court", "police", "civil_affairs", "justice"):
            with log.consumer("scan", [f"justlink.{agency}.deadletter"]) as consumer:
                while batch := consumer.poll(5000, timeout_s=0):
                    letters += [DeadLetter.from_record(r) for r in batch]
    assert len(letters) > 50
    fields = {d.field.split(".")[-1] for d in letters}
    assert {"id_number", "phone"} & fields, fields
    assert hits(b"\n".join(d.header_bytes() for d in letters), secrets) == []
    raw = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file() and "keystore" not in p.name)
    assert hits(raw, secrets) == []
    assert hits("\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records).encode(), secrets) == []
