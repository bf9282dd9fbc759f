"""Fuzzing the connectors' input path: CsvSource / JsonLinesSource parsing, then the reference
connectors' mapping and the SDK's validation — the stages every agency record passes before it is
protected and published.

Hypothesis drives it (derandomized, explicit example counts: the same inputs on every run). Each
example is a mutation plan — a seed, some hostile texts and bytes — that a PRNG expands into a file
of LINES_PER_EXAMPLE lines mutated from real rows of a generated county (so most lines get deep
into the mapping before they break): values replaced by hostile text, quotes, separators, control
characters, invalid UTF-8/GB18030 bytes, columns dropped or added, lines cut, JSON of every type.

Every line must come out either as events or as a dead-letter reason naming the stage (and field
where there is one): no exception escapes, nothing is dropped silently. The total count of lines is
asserted, >= 100k over the module (FUZZ_FACTOR scales it).
A last test runs the whole runtime (protect, encode, publish to the embedded log) on fuzzed files and
checks that every bad record is on the dead-letter topic with its reason and the counts add up.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, JsonLinesSource
from connectors.sdk.deadletter import DeadLetter
from connectors.sdk.runtime import _StageError
from connectors.sdk.sources import UnreadableRecord
from connectors.sdk.textfile import clean_text
from connectors.synthetic.exporters import FILES, FileSpec
from connectors.synthetic.generator import generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog

FUZZ_FACTOR = float(os.environ.get("JUSTLINK_FUZZ_FACTOR", "1"))
LINES_PER_EXAMPLE = 100
CSV_EXAMPLES = int(130 * FUZZ_FACTOR)      # per export file (7 files)
JSONL_EXAMPLES = int(40 * FUZZ_FACTOR)     # per agency (4)
TOTAL_FLOOR = int(100_000 * FUZZ_FACTOR)

HOSTILE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40) | st.sampled_from([
    '"', '""', ',', '\n', '\r\n', '\r', '\x00', '\t', '\u2028', '\ufeff', "'", '\\', '%s', '{}', '[]', 'null',
    '9' * 40, '-1', '1e309', 'NaN', '2025-02-30', '2025-13-01', '0000-00-00', '99999999', '1900-01-01 25:61',
    '110105199003071234', '11010519900307123X', '１１０１０５', 'Ⅻ', '𠀀𠀁', '张' * 70, '\x1f', ' ', '',
    '<script>', "'; DROP TABLE x; --", '../../etc/passwd'])
PLANS = st.tuples(st.integers(0, 2**32 - 1), st.lists(HOSTILE, min_size=1, max_size=6),
                  st.binary(min_size=1, max_size=12))
FUZZ = settings(derandomize=True, deadline=None, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


@dataclass
class Tally:
    lines: int = 0
    events: int = 0
    dead: int = 0
    stages: dict[str, int] = field(default_factory=dict)

    def add_dead(self, stage: str) -> None:
        self.dead += 1
        self.stages[stage] = self.stages.get(stage, 0) + 1


TALLY = Tally()


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz-county")
    generate(out, 60, seed=5)
    return out


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ConnectorRunner]]:
    data = tmp_path_factory.mktemp("fuzz-data")
    init_keystore(data)
    keystore = open_keystore(data)
    log = EmbeddedEventLog(data / "log.db")
    state = ConnectorState(data / "connectors.db")
    yield {agency: ConnectorRunner(get_connector(agency), log, Protector(keystore), state, dry_run=True,
                                   progress=False) for agency in {spec.agency for spec in FILES}}
    log.close()
    state.close()
    keystore.close()


def rows_of(county: Path, spec: FileSpec) -> list[list[str]]:
    with (county / spec.path).open(encoding=spec.encoding, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows  # header first


def mutate_row(row: list[str], rng: random.Random, hostile: list[str], junk: bytes) -> list[str] | bytes:
    """One of several mutations of a real row; bytes when the line is to be written raw."""
    row = list(row)
    kind = rng.randrange(10)
    if kind <= 3:                                   # one to three values replaced by hostile text
        for _ in range(rng.randint(1, 3)):
            row[rng.randrange(len(row))] = rng.choice(hostile)
    elif kind == 4:                                 # a value emptied (required fields, dates, enums)
        row[rng.randrange(len(row))] = ""
    elif kind == 5:                                 # columns missing or extra
        row = row[:rng.randrange(len(row))] if rng.random() < 0.5 else row + [rng.choice(hostile)]
    elif kind == 6:                                 # values swapped between columns
        i, j = rng.randrange(len(row)), rng.randrange(len(row))
        row[i], row[j] = row[j], row[i]
    elif kind == 7:                                 # raw bytes spliced into the encoded line
        line = _csv_line(row).encode("utf-8")
        at = rng.randrange(len(line) + 1)
        return line[:at] + junk + line[at:]
    elif kind == 8:                                 # a line cut short
        line = _csv_line(row)
        return line[:rng.randrange(len(line) + 1)].encode("utf-8") + b"\n"
    return row                                      # kind 9: the row as exported


def _csv_line(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


def write_csv(path: Path, spec: FileSpec, rows: list[list[str]], plan: tuple[int, list[str], bytes]) -> None:
    seed, hostile, junk = plan
    rng = random.Random(seed)
    header, body = rows[0], rows[1:]
    encoding = "gb18030" if spec.encoding == "gb18030" else "utf-8"
    out = [_csv_line(header).encode(encoding)]
    for _ in range(LINES_PER_EXAMPLE):
        mutated = mutate_row(rng.choice(body), rng, hostile, junk)
        out.append(mutated if isinstance(mutated, bytes)
                   else _csv_line(mutated).encode(encoding, errors="replace"))
    path.write_bytes(b"".join(out))


def consume(runner: ConnectorRunner, source: CsvSource | JsonLinesSource) -> Tally:
    """Every record of the source through map + validate: events, or a dead-letter reason."""
    tally = Tally()
    for item in source.records():
        tally.lines += 1
        if isinstance(item, UnreadableRecord):
            assert item.error.reason, f"{item.position}: unreadable without a reason"
            tally.add_dead("read")
            continue
        try:
            events = runner._validate(item, _NOW)
        except _StageError as exc:
            assert exc.stage in ("map", "validate") and exc.error.reason, f"{item.position}: {exc}"
            tally.add_dead(exc.stage)
            continue
        assert events, f"{item.position}: mapped to no events and no reason"
        tally.events += len(events)
    return tally


def _add(tally: Tally) -> None:
    TALLY.lines += tally.lines
    TALLY.events += tally.events
    TALLY.dead += tally.dead
    for stage, n in tally.stages.items():
        TALLY.stages[stage] = TALLY.stages.get(stage, 0) + n


_NOW = __import__("datetime").datetime.now(__import__("datetime").UTC)


@pytest.mark.parametrize("spec", FILES, ids=[spec.path.split("/")[-1] for spec in FILES])
def test_fuzzed_csv_exports_never_crash_and_every_bad_line_has_a_reason(spec: FileSpec, county: Path,
                                                                       runners: dict, tmp_path: Path) -> None:
    rows = rows_of(county, spec)
    runner = runners[spec.agency]
    path = tmp_path / spec.path.split("/")[-1]
    seen = Tally()

    @settings(FUZZ, max_examples=CSV_EXAMPLES)
    @given(PLANS)
    def check(plan: tuple[int, list[str], bytes]) -> None:
        write_csv(path, spec, rows, plan)
        tally = consume(runner, CsvSource(path))
        assert tally.lines >= LINES_PER_EXAMPLE * 0.9   # quoted newlines may join a few lines
        seen.lines += tally.lines
        _add(tally)

    check()
    assert seen.lines >= CSV_EXAMPLES * LINES_PER_EXAMPLE * 0.9


def json_line(row: dict[str, str], rng: random.Random, hostile: list[str], junk: bytes) -> bytes:
    obj: object = dict(row)
    kind = rng.randrange(8)
    if kind <= 2:                                   # values of every JSON type
        key = rng.choice(list(row))
        obj[key] = rng.choice([None, 0, -1, 1.5, True, [], {}, [rng.choice(hostile)], {"x": 1}, 10**30,  # type: ignore[index]
                               rng.choice(hostile)])
    elif kind == 3:                                 # keys missing, unknown keys
        del obj[rng.choice(list(row))]  # type: ignore[attr-defined]
        obj[rng.choice(hostile)] = rng.choice(hostile)  # type: ignore[index]
    elif kind == 4:                                 # not an object
        obj = rng.choice([[], "text", 1, None, [row]])
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode()
    if kind == 5:                                   # broken JSON
        text = text[:rng.randrange(len(text))]
    elif kind == 6:
        at = rng.randrange(len(text) + 1)
        text = text[:at] + junk + text[at:]
    return text + b"\n"


@pytest.mark.parametrize("agency", ["court", "police", "civil_affairs", "justice"])
def test_fuzzed_json_lines_never_crash_and_every_bad_line_has_a_reason(agency: str, county: Path, runners: dict,
                                                                       tmp_path: Path) -> None:
    spec = next(s for s in FILES if s.agency == agency)
    header, *body = rows_of(county, spec)
    records = [dict(zip(header, row, strict=True)) for row in body]
    runner = runners[agency]
    path = tmp_path / "export.jsonl"

    @settings(FUZZ, max_examples=JSONL_EXAMPLES)
    @given(PLANS)
    def check(plan: tuple[int, list[str], bytes]) -> None:
        seed, hostile, junk = plan
        rng = random.Random(seed)
        path.write_bytes(b"".join(json_line(rng.choice(records), rng, hostile, junk)
                                  for _ in range(LINES_PER_EXAMPLE)))
        tally = consume(runner, JsonLinesSource(path))
        assert tally.lines == sum(1 for line in re.split(rb"\r\n|\r|\n", path.read_bytes())
                                  if clean_text(line.decode("utf-8", "replace")).strip())
        _add(tally)

    check()


def test_fuzzed_files_through_the_whole_runtime_dead_letter_every_bad_record(county: Path,
                                                                             tmp_path: Path) -> None:
    """Protect, encode and publish too: read = published + dead-lettered + duplicates, and every
    dead letter on the topic has its stage and reason."""
    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    log = EmbeddedEventLog(tmp_path / "log.db")
    state = ConnectorState(tmp_path / "connectors.db")
    try:
        total_read = total_dead = 0
        for n, spec in enumerate(FILES):
            rows = rows_of(county, spec)
            path = tmp_path / f"run-{n}-{spec.path.split('/')[-1]}"
            write_csv(path, spec, rows, (1000 + n, ['"', "张" * 70, "2025-02-30", "\x00"], b"\xff\xfe\x80"))
            runner = ConnectorRunner(get_connector(spec.agency), log, Protector(keystore), state, progress=False)
            summary = runner.run(CsvSource(path))
            assert summary.balanced and summary.read >= LINES_PER_EXAMPLE * 0.9
            total_read += summary.read
            total_dead += summary.dead_lettered
        letters = []
        for agency in {spec.agency for spec in FILES}:
            consumer = log.consumer("fuzz-check", [f"justlink.{agency}.deadletter"])
            while batch := consumer.poll(1000, timeout_s=0):
                letters += [DeadLetter.from_record(r) for r in batch]
            consumer.close()
        assert len(letters) == total_dead > total_read // 10
        assert all(d.stage in ("read", "map", "validate", "protect", "encode") and d.reason for d in letters)
        assert all(d.sealed.startswith(b"jls1") and d.subject_keys for d in letters)
    finally:
        log.close()
        state.close()
        keystore.close()


def test_zz_the_fuzzers_ran_at_least_100k_inputs() -> None:
    """Runs last in this module (pytest keeps file order): the sum over the tests above."""
    print(f"\nfuzzed lines {TALLY.lines}: events {TALLY.events}, dead-lettered {TALLY.dead} by stage {TALLY.stages}")
    assert TALLY.lines >= TOTAL_FLOOR
    assert TALLY.stages.get("read", 0) and TALLY.stages.get("map", 0) and TALLY.stages.get("validate", 0)
    assert TALLY.events > 0


def test_one_bad_line_does_not_turn_a_utf8_export_into_gb18030(tmp_path: Path) -> None:
    """Found by the fuzzer: invalid bytes on one line of a UTF-8 export made the encoding sniffer pick
    GB18030 for the whole file (the header then failed, or every line came out garbled)."""
    path = tmp_path / "incidents.csv"
    path.write_bytes("警情编号,姓名\n".encode() + b"JQ1,\xff\xfe\n" + "JQ2,王小明\n".encode() * 3)
    source = CsvSource(path)
    assert source.encoding == "utf-8"
    items = list(source.records())
    assert isinstance(items[0], UnreadableRecord) and "not valid UTF-8" in items[0].error.reason
    assert [i.data for i in items[1:]] == [{"警情编号": "JQ2", "姓名": "王小明"}] * 3
    gb = tmp_path / "marriages.csv"
    gb.write_bytes("业务编号,姓名\nM1,王小明\n".encode("gb18030") + b"M2,\xff\n")
    assert CsvSource(gb).encoding == "gb18030"
