"""Connector dead letters: Kafka Connect's convention on the wire (read here with the plain log API),
reasons in the integrator's words and never a value, originals sealed under the data subjects' keys so
that erasing a person shreds their dead letters, and replay once the connector is fixed."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.police.connector import CATEGORIES, PoliceConnector
from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, MappedEvent, SourceRecord
from connectors.sdk.dead_lettering import dead_letters_naming
from connectors.sdk.deadletter import DeadLetter, read_dead_letters
from connectors.sdk.errors import RULES
from connectors.sdk.replay import replay_dead_letters
from connectors.synthetic.generator import generate
from consent.privacy.erasure import erase_subjects
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.normalize import id_check_char
from consent.privacy.protect import Protector
from consent.privacy.sealing import unseal
from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog
from schemas.wire import default_codec

UFO = "飞碟事件"          # a category label the police connector does not know (yet)
CONNECT_HEADERS = {f"__connect.errors.{name}" for name in (
    "topic", "partition", "offset", "connector.name", "task.id", "stage", "class.name", "exception.class.name",
    "exception.message")}


class FixedPoliceConnector(PoliceConnector):
    """The police connector after the integrator added the missing label."""

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        CATEGORIES.setdefault(UFO, "other")
        try:
            return super().map(record)
        finally:
            CATEGORIES.pop(UFO, None)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dl-county")
    generate(out, 1500, seed=17)
    return out


def police_rows(county: Path) -> tuple[list[str], list[list[str]]]:
    with (county / "police/police_incidents.csv").open(encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def with_ids(header: list[str], rows: list[list[str]], count: int) -> list[list[str]]:
    """Report rows whose first party has a valid-looking ID number and a phone."""
    idn, phone, step = header.index("涉案人员1证件号码"), header.index("涉案人员1联系电话"), header.index("环节")
    return [r for r in rows if len(r[idn]) == 18 and id_check_char(r[idn][:17]) == r[idn][17] and r[phone]
            and r[step] == "接警登记"][:count]


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return path


@pytest.fixture
def hub(tmp_path: Path):
    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log = EmbeddedEventLog(tmp_path / "log.db")
    state = ConnectorState(tmp_path / "state.db")
    yield log, Protector(keystore, epoch_check_interval=0), state, keystore
    log.close()
    state.close()
    keystore.close()


def broken_copy(header: list[str], row: list[str], *, key_suffix: str, **changes: str) -> list[str]:
    copy = list(row)
    copy[0] += key_suffix
    for column, value in changes.items():
        copy[header.index(column)] = value
    return copy


def run(hub, path: Path):
    log, protector, state, _ = hub
    return ConnectorRunner(get_connector("police"), log, protector, state, progress=False).run(CsvSource(path))


def readable(protector: Protector, letter: DeadLetter) -> bool:
    """Whether the sealed original still opens (a bool: a test must not print the original)."""
    return unseal(protector, letter.sealed, letter.dead_letter_id.encode()) is not None


def letters_of(log) -> list[DeadLetter]:
    return list(read_dead_letters(log, ["justlink.police.deadletter"], group="t", wait_s=0))


def test_dead_letters_follow_kafka_connect_and_never_echo_a_value(hub, county: Path, tmp_path: Path) -> None:
    header, rows = police_rows(county)
    good = with_ids(header, rows, 3)
    bad = broken_copy(header, good[0], key_suffix="x", 警情类别=UFO)
    summary = run(hub, write(tmp_path / "incidents.csv", header, [*good, bad]))
    assert (summary.published, summary.dead_lettered) == (3, 1), summary.line()
    log = hub[0]
    with log.consumer("raw", ["justlink.police.deadletter"]) as consumer:
        (record,) = consumer.poll(10, timeout_s=0)
    headers = dict(record.headers)
    assert CONNECT_HEADERS <= set(headers)
    assert headers["__connect.errors.stage"] == b"MAP" and headers["__connect.errors.topic"] == b""
    assert headers["__connect.errors.class.name"] == b"connectors.police.connector.PoliceConnector"
    message = headers["__connect.errors.exception.message"].decode()
    assert message.startswith("incidents.csv:5: 警情类别 (category): value.unknown:"), message
    assert record.key.startswith(b"dl-") and record.value.startswith(b"jls1")      # the original, sealed
    everything = record.key + record.value + b"".join(name.encode() + value for name, value in record.headers)
    for value in (UFO, good[0][header.index("涉案人员1姓名")], good[0][header.index("涉案人员1证件号码")]):
        assert value.encode() not in everything
    letter = DeadLetter.from_record(record)
    assert (letter.source, letter.line, letter.column, letter.rule) == ("incidents.csv", 5, "警情类别", "value.unknown")
    assert letter.field == "category", "a mapping error names the contract field as well as the column"
    assert letter.rule in RULES and letter.own_key in letter.subject_keys
    original = unseal(hub[1], letter.sealed, letter.dead_letter_id.encode()) or b""
    assert (UFO.encode() in original) is True                                   # kept, readable with the keys


def test_erasing_a_person_makes_their_dead_letters_unreadable(hub, county: Path, tmp_path: Path) -> None:
    header, rows = police_rows(county)
    a, b, c = with_ids(header, rows, 3)
    letters_rows = [
        broken_copy(header, a, key_suffix="x", 警情类别=UFO),                       # map stage: one person by ID
        broken_copy(header, b, key_suffix="y", **{"涉案人员2姓名": "柳青", "涉案人员2联系电话": "12",   # validate
                                                  "涉案人员2证件号码": c[header.index("涉案人员1证件号码")]}),
        broken_copy(header, c, key_suffix="z", 警情类别=UFO, 涉案人员1证件号码=""),  # no ID: only a phone
    ]
    summary = run(hub, write(tmp_path / "incidents.csv", header, [a, b, c, *letters_rows]))
    assert (summary.published, summary.dead_lettered) == (3, 3), summary.line()
    log, protector, _, keystore = hub
    events = {}
    with log.consumer("events", ["justlink.police.events"]) as consumer:
        for record in consumer.poll(100, timeout_s=0):
            event = default_codec().decode(record.value)[1]
            events[event["envelope"]["source_record_key"]] = event
    letters = {d.line: d for d in letters_of(log)}
    assert sorted(letters) == [5, 6, 7]
    person_a = events[a[0]]["parties"][0]["protection"]["subject_key"]
    assert person_a in letters[5].subject_keys, "sealed under the same key as the person's published records"
    assert letters[6].column == "涉案人员2联系电话" and letters[6].field == "parties[1].phone"
    assert len(letters[6].subject_keys) == 3, "both parties' keys and its own"

    erase_subjects(keystore, [person_a], requested_by="test")
    assert not readable(protector, letters[5])
    for line in (6, 7):
        assert readable(protector, letters[line])

    second_party = events[c[0]]["parties"][0]["protection"]["subject_key"]        # the person c, by ID number
    assert second_party in letters[6].subject_keys
    erase_subjects(keystore, [second_party], requested_by="test")                  # any one party shreds it
    assert not readable(protector, letters[6])
    assert readable(protector, letters[7])

    phone_bi = protector.blind.phone(c[header.index("涉案人员1联系电话")])
    found = dead_letters_naming(log, protector, {phone_bi}, agencies=["police"])
    assert [d.line for d in found] == [7], "a row keyed to nobody is found by the person's phone"
    erase_subjects(keystore, [found[0].own_key], requested_by="test")
    assert not readable(protector, letters[7])
    assert events[c[0]]["parties"][0]["protection"]["subject_key"] != found[0].own_key


def test_replay_publishes_what_the_fixed_connector_maps(hub, county: Path, tmp_path: Path) -> None:
    header, rows = police_rows(county)
    good = with_ids(header, rows, 4)
    broken = [broken_copy(header, good[i], key_suffix="r", 警情类别=UFO) for i in range(3)]
    broken.append(broken_copy(header, good[3], key_suffix="s", 接警时间="2025-02-30", 环节时间="2025-02-30"))
    first = run(hub, write(tmp_path / "incidents.csv", header, good + broken))
    assert (first.published, first.dead_lettered) == (4, 4), first.line()
    log, protector, state, keystore = hub

    def resolve(spec: str):
        raise AssertionError("the given connector is used")

    unfixed = replay_dead_letters(log, protector, state, "police", resolve=lambda spec: get_connector("police"))
    assert (unfixed.letters, unfixed.published, unfixed.still_failing) == (4, 0, 4)
    erase_subjects(keystore, [letters_of(log)[0].own_key], requested_by="test")
    fixed = replay_dead_letters(log, protector, state, "police", resolve=resolve, connector=FixedPoliceConnector())
    assert (fixed.published, fixed.still_failing, fixed.erased) == (2, 1, 1), fixed.line()
    assert fixed.reasons == {"map: 环节时间: date.impossible": 1}
    again = replay_dead_letters(log, protector, state, "police", resolve=resolve, connector=FixedPoliceConnector())
    assert (again.published, again.duplicates) == (0, 2), again.line()
    assert len(letters_of(log)) == 4, "replay does not dead-letter a second time"


def test_replay_from_the_command_line(county: Path, tmp_path: Path) -> None:
    header, rows = police_rows(county)
    good = with_ids(header, rows, 2)
    exports = tmp_path / "exports"
    exports.mkdir()
    write(exports / "incidents.csv", header, [*good, broken_copy(header, good[0], key_suffix="q", 警情类别=UFO)])
    env = {"JUSTLINK_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init"], env=env).exit_code == 0
    first = runner.invoke(cli, ["connector", "run", "police", "--source", str(exports), "--no-progress"], env=env)
    assert first.exit_code == 0 and "dead-lettered 1" in first.output, first.output
    listed = runner.invoke(cli, ["connector", "dead-letters", "police"], env=env)
    assert "incidents.csv:4: 警情类别 (category): value.unknown" in listed.output and UFO not in listed.output
    replayed = runner.invoke(cli, ["connector", "replay-dead-letters", "police", "--connector",
                                   "tests.connectors.test_dead_letters:FixedPoliceConnector"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "1 dead letters = published 1" in replayed.output, replayed.output


def test_a_release_notice_that_names_no_county_is_a_dead_letter_naming_the_column(hub, county: Path,
                                                                                   tmp_path: Path) -> None:
    """A notice is routed by its 接收地区划代码: one that is not a 6-digit division code is kept, sealed, and
    named by file, line, column and rule — never published to a county it does not name."""
    with (county / "justice/release_notices.csv").open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    good = rows[:2]
    bad = broken_copy(header, rows[2], key_suffix="x", 接收地区划代码="清源县")
    log, protector, state, _ = hub
    path = write(tmp_path / "release_notices.csv", header, [*good, bad])
    summary = ConnectorRunner(get_connector("justice"), log, protector, state, progress=False).run(CsvSource(path))
    assert (summary.published, summary.dead_lettered) == (2, 1), summary.line()
    (letter,) = read_dead_letters(log, ["justlink.justice.deadletter"], group="t", wait_s=0)
    assert (letter.source, letter.line, letter.column, letter.rule) == \
        ("release_notices.csv", 4, "接收地区划代码", "division_code.format")
    assert letter.rule in RULES and "清源县" not in letter.reason
