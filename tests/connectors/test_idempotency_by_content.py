"""Idempotency by content, not by position: the generated county's exports published once, then the
same records again as agencies really re-deliver them — re-encoded, re-ordered, with a BOM or invisible
bytes in the middle, with other line endings, or as a re-export that replaced the file under the same
name — publish no duplicates and no second dead letter; a re-export with new rows in the middle
publishes exactly the new rows (a position checkpoint would have skipped them); and a record re-delivered
with other content under the same key and version is a dead letter, not a duplicate."""

from __future__ import annotations

import codecs
import csv
import io
import random
from pathlib import Path

import pytest

from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, RunSummary
from connectors.sdk.deadletter import read_dead_letters
from connectors.synthetic.generator import generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from schemas.wire import default_codec

EXPORT = "police/police_incidents.csv"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[list[str]]]:
    county = tmp_path_factory.mktemp("idem-county")
    generate(county, 2500, seed=9)
    with (county / EXPORT).open(encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    bad = list(rows[3])                                    # a record every delivery dead-letters
    bad[0], bad[header.index("警情类别")] = bad[0] + "9", "飞碟"
    return header, rows[:60] + [bad] + rows[60:]


@pytest.fixture
def hub(tmp_path: Path):
    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log = EmbeddedEventLog(tmp_path / "log.db")
    state = ConnectorState(tmp_path / "state.db")
    yield log, Protector(keystore), state
    log.close()
    state.close()
    keystore.close()


def text(header: list[str] | None, rows: list[list[str]], newline: str = "\r\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(([header] if header else []) + rows)
    return buffer.getvalue()


def run(hub, path: Path) -> RunSummary:
    log, protector, state = hub
    summary = ConnectorRunner(get_connector("police"), log, protector, state, progress=False).run(CsvSource(path))
    assert summary.balanced and not summary.refused, summary.line()
    return summary


def test_redelivered_records_publish_nothing_twice(hub, export, tmp_path: Path) -> None:
    header, rows = export
    first = tmp_path / "incidents.csv"
    first.write_bytes(codecs.BOM_UTF8 + text(header, rows).encode())
    baseline = run(hub, first)
    assert baseline.published > 200 and baseline.dead_lettered > 0

    shuffled = list(rows)
    random.Random(4).shuffle(shuffled)
    lines = text(header, rows).encode().split(b"\r\n")
    lines[40] = codecs.BOM_UTF8 + lines[40]                                   # a BOM mid-file (today: a new key)
    lines[41] = lines[41][:3] + "\u200b".encode() + lines[41][3:]              # a zero-width space in a key
    lines[42] = lines[42].replace(b",", b"\x00,", 2)                          # stray NUL bytes
    again = {
        "gb18030.csv": text(header, rows).encode("gb18030"),
        "utf16.csv": codecs.BOM_UTF16_LE + text(header, rows).encode("utf-16-le"),
        "utf32-no-bom.csv": text(header, rows).encode("utf-32-be"),
        "reordered.csv": text(header, shuffled).encode(),
        "cr-only.csv": text(header, rows, "\r").encode(),
        "stray-bytes.csv": b"\r\n".join(lines),
    }
    for name, data in again.items():
        path = tmp_path / name
        path.write_bytes(data)
        summary = run(hub, path)
        assert summary.read == baseline.read, (name, summary.line())
        assert (summary.published, summary.dead_lettered) == (0, 0), (name, summary.line())
        assert summary.duplicates == baseline.read, (name, summary.line())


def test_a_re_export_under_the_same_name_is_read_again_by_content(hub, export, tmp_path: Path) -> None:
    header, rows = export
    path = tmp_path / "incidents.csv"
    old, new = rows[:200:2], rows[1:200:2]                 # the re-export has rows in between the old ones
    path.write_bytes(text(header, old).encode())
    first = run(hub, path)
    assert first.read == len(old)
    path.write_bytes(text(header, rows[:200]).encode("gb18030"))   # replaced: re-encoded, more rows
    second = run(hub, path)
    assert second.read == 200, "the changed file was read from the top, not from the old offset"
    assert second.duplicates == len(old)
    assert second.published + second.dead_lettered == len(new)
    third = run(hub, path)                                 # unchanged since: resumes after the checkpoint
    assert third.read == 0


def test_a_file_that_repeats_its_rows_publishes_each_once(hub, export, tmp_path: Path) -> None:
    """Rows repeated within one file (an export appended to itself, a row copied), in one batch or across
    batches, are duplicates of the first: published once, dead-lettered once."""
    header, rows = export
    path = tmp_path / "twice.csv"
    path.write_bytes(text(header, rows[:100] + rows[:100]).encode("gb18030"))
    log, protector, state = hub
    summary = ConnectorRunner(get_connector("police"), log, protector, state, progress=False,
                              batch_records=150).run(CsvSource(path))
    assert summary.balanced and summary.read == 200, summary.line()
    assert summary.duplicates == 100, summary.line()
    assert summary.published + summary.dead_lettered == 100 and summary.dead_lettered > 0, summary.line()
    consumer = log.consumer("check", ["justlink.police.events"])
    published = []
    while batch := consumer.poll(1000, timeout_s=0):
        published += [default_codec().decode(r.value)[1]["envelope"]["event_id"] for r in batch]
    consumer.close()
    assert len(published) == len(set(published)) == summary.events, "each event once on the topic"


def test_a_record_re_delivered_with_other_content_is_a_dead_letter_not_a_duplicate(hub, export,
                                                                                   tmp_path: Path) -> None:
    """Same record key and version, other content (the export corrected a record in place): neither
    published under the old event id nor counted as a duplicate and dropped, but kept as a dead letter
    (record.changed) naming file and line; the unchanged records around it are duplicates."""
    header, rows = export
    path = tmp_path / "incidents.csv"
    path.write_bytes(text(header, rows[:120]).encode())
    first = run(hub, path)
    category = header.index("警情类别")
    changed = [i for i, row in enumerate(rows[:120]) if row[header.index("环节")] == "接警登记"
               and row[category] in ("家庭纠纷", "邻里纠纷")][:3]
    assert len(changed) == 3
    edited = [list(row) for row in rows[:120]]
    for i in changed:
        edited[i][category] = "家庭纠纷" if edited[i][category] == "邻里纠纷" else "邻里纠纷"
    phone = header.index("涉案人员2联系电话")                       # and a party's phone number, corrected
    moved = next(i for i, row in enumerate(rows[:120]) if row[header.index("环节")] == "接警登记"
                 and row[phone] and i not in changed)
    edited[moved][phone] = edited[moved][phone][:-4] + str(9999 - int(edited[moved][phone][-4:])).zfill(4)
    order = list(range(120))
    random.Random(5).shuffle(order)
    path.write_bytes(text(header, [edited[i] for i in order]).encode("gb18030"))   # also re-encoded, reordered
    second = run(hub, path)
    assert (second.published, second.dead_lettered) == (0, 4), second.line()
    assert second.duplicates == first.read - 4, second.line()
    log, _, _ = hub
    letters = [d for d in read_dead_letters(log, ["justlink.police.deadletter"], group="check", wait_s=0)
               if d.rule == "record.changed"]
    lines = sorted(int(d.position.split(":")[1]) for d in letters)
    assert lines == sorted(order.index(i) + 2 for i in [*changed, moved]), "file:line of each changed record"
    assert all(d.position.startswith("incidents.csv:") for d in letters)
    named = sorted((d.column, d.field) for d in letters)
    assert named == [("涉案人员2联系电话", "parties[1].phone")] + [("警情类别", "category")] * 3, \
        "the column that changed, and its contract field"
    assert not any(rows[moved][phone] in d.header_bytes().decode() or edited[moved][phone] in d.header_bytes().decode()
                   for d in letters), "never the value"
    third = run(hub, path)
    assert (third.published, third.dead_lettered, third.read) == (0, 0, 0), third.line()
    from connectors.sdk.replay import replay_dead_letters

    _, protector, state = hub
    replayed = replay_dead_letters(log, protector, state, "police", resolve=lambda _: get_connector("police"))
    assert replayed.published == 0 and replayed.reasons.get("validate: 警情类别: record.changed") == 3, \
        "a replay does not publish a changed record under the old event id either; it names the column"
    assert replayed.reasons.get("validate: 涉案人员2联系电话: record.changed") == 1, replayed.reasons


def test_events_published_before_fingerprints_were_kept_stay_duplicates(export, tmp_path: Path) -> None:
    """A connector state written before content fingerprints existed (no digest column): its events are
    duplicates as before, never taken for changed records."""
    header, rows = export
    path = tmp_path / "incidents.csv"
    path.write_bytes(text(header, rows[:80]).encode())
    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log = EmbeddedEventLog(tmp_path / "log.db")
    try:
        state = ConnectorState(tmp_path / "state.db")
        first = ConnectorRunner(get_connector("police"), log, Protector(keystore), state,
                                progress=False).run(CsvSource(path))
        state.db.executescript("CREATE TABLE old (event_id TEXT PRIMARY KEY) WITHOUT ROWID; "
                               "INSERT INTO old SELECT event_id FROM published; DROP TABLE published; "
                               "ALTER TABLE old RENAME TO published; DELETE FROM checkpoints;")
        state.close()
        state = ConnectorState(tmp_path / "state.db")
        again = ConnectorRunner(get_connector("police"), log, Protector(keystore), state,
                                progress=False).run(CsvSource(path))
        state.close()
        assert (again.published, again.dead_lettered, again.duplicates) == (0, 0, first.read), again.line()
    finally:
        log.close()
        keystore.close()


def test_the_fingerprint_ignores_when_and_under_which_schema_version_and_empty_fields() -> None:
    """A re-run at another time, after a compatible schema change (a field added, fields reordered), says the
    same; a value that differs does not, and is named."""
    from datetime import UTC, datetime

    from connectors.sdk.fingerprint import changed_fields, fingerprint, same

    key = bytes(32)
    event = {"category": "fight", "parties": [{"name": "张伟", "phone": None}],
             "envelope": {"event_id": "e1", "recorded_at": datetime(2024, 1, 1, tzinfo=UTC), "schema_version": 1,
                          "occurred_at": datetime(2023, 5, 1, 8, tzinfo=UTC)}}
    later = {"envelope": {**event["envelope"], "recorded_at": datetime(2025, 1, 1, tzinfo=UTC), "schema_version": 2,
                          "restriction": None},
             "parties": [{"phone": None, "name": "张伟", "gender": None}], "category": "fight", "added": None}
    old = fingerprint(event, key)
    assert fingerprint(later, key) == old and same(old, fingerprint(later, key)) and same(None, old)
    theft = {**event, "category": "theft"}
    assert not same(old, fingerprint(theft, key))
    assert changed_fields(old, fingerprint(theft, key), theft) == ["category"]
    renamed = {**event, "parties": [{"name": "章伟"}]}
    assert changed_fields(old, fingerprint(renamed, key), renamed) == ["parties[0].name"]
    assert "张伟" not in old and fingerprint(event, bytes(range(32))) != old, "keyed, never the content"
