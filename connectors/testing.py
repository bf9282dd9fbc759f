"""The connector test kit: point it at a connector and sample exports; it tells you
whether the connector is right.

    from connectors.testing import ConnectorTestKit
    def test_my_connector(tmp_path):
        ConnectorTestKit(MyConnector(), Path("samples/"), tmp_path).assert_ok()

Checks (each returns a list of problems, [] when fine):
- mapping: every sample record maps and validates; reports each event type's field coverage
  (fields never filled in the sample) so gaps in a mapping are visible;
- round_trip: every published event decodes from the wire format to the same record;
- protection: every field tagged identifier/contact/sensitive is a ciphertext token, and no
  personal source value appears in the published bytes — a value of a column named as personal
  (…姓名, …身份证号, …电话, …住址), a value shaped like an ID or a mobile number in any column, or a
  person's name, ID number or birth date the mapping encrypts in one field and leaks through another (a finding names the file, row,
  column, the fields holding it in clear and the rule `kit.clear_personal_value`, and how to declare
  a column that is not personal: `non_personal_columns` on the connector);
- idempotency: re-running over the same input publishes nothing new, and the event ids
  are the same as the first run's;
- dead_letters: malformed variants of the sample (blanked columns, garbled dates, bad
  bytes, a 10 MB field, a truncated line) never crash the run, counts add up, and every
  dead letter names its file, line, stage, rule and reason, and keeps its original sealed.

Every finding names the source file and line, the source column (and the contract field) and
the rule, in the words of the export rather than of the contract.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sdk.connector import Connector
from connectors.sdk.deadletter import DeadLetter, read_dead_letters
from connectors.sdk.errors import SourceRefused
from connectors.sdk.runtime import ConnectorRunner, RunSummary
from connectors.sdk.sources import CsvSource, SourceRecord
from connectors.sdk.state import ConnectorState
from consent.privacy.fields import is_token
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import agency_topic, dead_letter_topic
from schemas import loader
from schemas.pii import ENCRYPTED_CLASSES, pii_fields
from schemas.wire import default_codec

PERSONAL_COLUMN_HINTS = ("姓名", "名称", "证件号码", "身份证号", "身份号码", "电话", "手机", "手机号", "手机号码",
                         "住址", "地址", "出生日期", "出生年月")
#: ID numbers (18 or 15 digits) and mainland mobile numbers, wherever they stand
PERSONAL_SHAPES = re.compile(r"(?<![0-9])(?:[1-9][0-9]{16}[0-9Xx]|[1-9][0-9]{14}|1[3-9][0-9]{9})(?![0-9A-Za-z])")
CLEAR_VALUE_RULE = "kit.clear_personal_value"


@dataclass
class KitReport:
    problems: dict[str, list[str]] = field(default_factory=dict)
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)   # event type -> field -> filled count
    summaries: dict[str, RunSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def text(self) -> str:
        lines = []
        for check, problems in self.problems.items():
            lines.append(f"{check}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
            lines += [f"  - {p}" for p in problems[:20]]
        return "\n".join(lines)


class ConnectorTestKit:
    def __init__(self, connector: Connector, sample: Path, work_dir: Path) -> None:
        self.connector = connector
        self.sample = Path(sample)
        self.work_dir = Path(work_dir)
        self.codec = default_codec()

    # -- plumbing ------------------------------------------------------------------------------
    def _hub(self, name: str):
        data = self.work_dir / name
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        init_keystore(data)
        keystore = open_keystore(data)
        return data, EmbeddedEventLog(data / "log.db"), Protector(keystore), ConnectorState(data / "state.db"), keystore

    def _run(self, log, protector, state, sources) -> RunSummary:
        runner = ConnectorRunner(self.connector, log, protector, state, progress=False)
        total = RunSummary(self.connector.name)
        for source in sources:
            total.add(runner.run(source))
        return total

    @staticmethod
    def _read(log, topic: str) -> list[bytes]:
        if topic not in log.topics():
            return []
        consumer = log.consumer("connector-test-kit", [topic])
        values = []
        while batch := consumer.poll(2000, timeout_s=0.1):
            values += [r.value for r in batch]
        consumer.close()
        return values

    # -- checks --------------------------------------------------------------------------------
    def run_all(self) -> KitReport:
        report = KitReport()
        data, log, protector, state, keystore = self._hub("main")
        try:
            sources = self.connector.sources(self.sample)
            summary = self._run(log, protector, state, sources)
            report.summaries["first run"] = summary
            values = self._read(log, agency_topic(self.connector.agency))
            letters = list(read_dead_letters(log, [dead_letter_topic(self.connector.agency)],
                                             group="connector-test-kit-letters"))
            report.problems["mapping"] = self._mapping(summary, values, letters, report)
            report.problems["round_trip"] = self._round_trip(values)
            report.problems["protection"] = self._protection(values, data)
            report.problems["idempotency"] = self._idempotency(log, protector, state, values)
        finally:
            log.close()
            state.close()
            keystore.close()
        report.problems["dead_letters"] = self._dead_letters(report)
        return report

    def assert_ok(self) -> KitReport:
        report = self.run_all()
        assert report.ok, "connector test kit found problems:\n" + report.text()
        return report

    def _mapping(self, summary: RunSummary, values: list[bytes], letters: list[DeadLetter],
                 report: KitReport) -> list[str]:
        problems = []
        for source, why in summary.refused.items():
            problems.append(f"{source}: the whole file was refused: {why}")
        if summary.read == 0:
            problems.append(f"no records read from {self.sample}")
        if not summary.balanced:
            problems.append("counts do not add up: " + summary.line())
        if summary.published == 0:
            problems.append("nothing was published")
        for letter in letters:
            problems.append(f"sample record dead-lettered at {letter.stage}: {letter.message()}")
        for value in values:
            event_type, record = self.codec.decode(value)
            cov = report.coverage.setdefault(event_type, {})
            for name, v in record.items():
                cov[name] = cov.get(name, 0) + (0 if v in (None, "", []) else 1)
        return problems

    def _round_trip(self, values: list[bytes]) -> list[str]:
        problems = []
        for value in values:
            event_type, record = self.codec.decode(value)
            if self.codec.encode(event_type, record) != value:
                problems.append(f"{record['envelope']['source_record_key']}: re-encoding differs from the bytes")
        return problems

    def _protection(self, values: list[bytes], data: Path) -> list[str]:
        problems = []
        for value in values:
            event_type, record = self.codec.decode(value)
            for pf in pii_fields(loader.get(event_type).expanded):
                if pf.pii_class not in ENCRYPTED_CLASSES:
                    continue
                for v in _values_at(record, pf.path):
                    if v is not None and not is_token(v):
                        problems.append(f"{record['envelope']['source_record_key']}: {pf.path} is not encrypted")
        raw = b"".join(p.read_bytes() for p in data.glob("log.db*"))
        decoded = [self.codec.decode(value)[1] for value in values]
        flagged: set[str] = set()
        for secret, (position, column, why) in self._personal_values().items():
            if column in flagged:
                continue
            for encoding in ("utf-8", "gb18030"):
                if secret.encode(encoding) in raw:
                    flagged.add(column)
                    fields = ", ".join(_paths_holding(decoded, secret)) or "outside the events' fields"
                    problems.append(
                        f"{position}: {column} ({fields}): {CLEAR_VALUE_RULE}: the value ({len(secret)} characters; "
                        f"{why}) appears in clear in the published bytes. If {column} holds personal data, map it "
                        "to a field tagged identifier, contact or sensitive; if it does not (an office's or a "
                        "committee's name), declare it on the connector: "
                        f"non_personal_columns = frozenset({{{column!r}}})")
                    break
        return problems

    def _personal_values(self) -> dict[str, tuple[str, str, str]]:
        """Values that are personal data, with where each was first seen and why it counts: a column whose
        name says so (…姓名, …身份证号, …电话, …住址), a value shaped like an ID number or a mobile number
        in any column, or a column whose value the mapping put into a person's identifier field."""
        found: dict[str, tuple[str, str, str]] = {}
        declared = self.connector.non_personal_columns
        for source in self.connector.sources(self.sample):
            try:
                for item in source.records():
                    data = getattr(item, "data", None) or {}
                    encrypted = _encrypted_values(self.connector, item) if isinstance(item, SourceRecord) else set()
                    for column, value in data.items():
                        value = value.strip()
                        if column in declared or not value:
                            continue
                        for shaped in PERSONAL_SHAPES.findall(value):
                            found.setdefault(shaped, (item.position, column, "shaped like an ID or a mobile number"))
                        if not ((len(value) >= 2 and not value.isascii()) or len(value) >= 7):
                            continue
                        if column.endswith(PERSONAL_COLUMN_HINTS):
                            found.setdefault(value, (item.position, column, "the column's name says personal"))
                        elif value in encrypted:
                            found.setdefault(value, (item.position, column, "the mapping encrypts it elsewhere as a person's identifier"))
            except SourceRefused:
                continue
        return found

    def _idempotency(self, log, protector, state, first_values: list[bytes]) -> list[str]:
        problems = []
        again = self._run(log, protector, state, self.connector.sources(self.sample))
        if again.published:
            problems.append(f"resumed re-run published {again.published} records again")
        runner = ConnectorRunner(self.connector, log, protector, state, progress=False)
        replay = RunSummary(self.connector.name)
        for source in self.connector.sources(self.sample):
            replay.add(runner.run(source, resume=False))
        if replay.published:
            problems.append(f"re-run from the start published {replay.published} records again")
        data2, log2, protector2, state2, ks2 = self._hub("fresh")
        try:
            self._run(log2, protector2, state2, self.connector.sources(self.sample))
            ids1 = sorted(self.codec.decode(v)[1]["envelope"]["event_id"] for v in first_values)
            ids2 = sorted(self.codec.decode(v)[1]["envelope"]["event_id"]
                          for v in self._read(log2, agency_topic(self.connector.agency)))
            if ids1 != ids2:
                problems.append("a run on a fresh hub produced different event ids")
        finally:
            log2.close()
            state2.close()
            ks2.close()
        return problems

    def _dead_letters(self, report: KitReport) -> list[str]:
        problems = []
        csv_sources = [s for s in self.connector.sources(self.sample) if isinstance(s, CsvSource)]
        for source in csv_sources:
            malformed = self.work_dir / "malformed" / source.path.name
            malformed.parent.mkdir(parents=True, exist_ok=True)
            try:
                expected_dead = _write_malformed(source, malformed)
            except SourceRefused:
                continue          # the mapping check names the refusal
            except _NoFirstRecord as exc:
                problems.append(f"{source.name}: {exc}")
                continue
            data, log, protector, state, keystore = self._hub("malformed-" + source.path.stem)
            try:
                runner = ConnectorRunner(self.connector, log, protector, state, progress=False)
                summary = runner.run(CsvSource(malformed, encoding=source.file.encoding))
                report.summaries[f"malformed {source.name}"] = summary
                if not summary.balanced:
                    problems.append(f"{source.name}: counts do not add up: {summary.line()}")
                for name, why in summary.refused.items():
                    problems.append(f"{name}: the malformed variant was refused as a whole: {why}")
                letters = list(read_dead_letters(log, [dead_letter_topic(self.connector.agency)],
                                                 group="connector-test-kit-malformed"))
                dead_lines = {d.line for d in letters}
                for line_no, what in expected_dead.items():
                    if line_no not in dead_lines:
                        problems.append(f"{malformed.name}:{line_no}: the {what} was not dead-lettered")
                for d in letters:
                    if not d.reason or not d.stage or not d.rule:
                        problems.append(f"{d.position}: the dead letter has no stage, rule or reason")
                    if not d.sealed.startswith(b"jls1"):
                        problems.append(f"{d.position}: the dead letter keeps its original in clear")
            finally:
                log.close()
                state.close()
                keystore.close()
        return problems


def _values_at(record: Any, path: str) -> list[Any]:
    parts = path.split(".")
    current = [record]
    for part in parts:
        nxt: list[Any] = []
        array = part.endswith("[]")
        name = part.removesuffix("[]")
        for value in current:
            if isinstance(value, dict) and value.get(name) is not None:
                nxt += value[name] if array else [value[name]]
        current = nxt
    return current


class _NoFirstRecord(Exception):
    """A sample file without a record that reads: nothing to build malformed variants from."""


def _write_malformed(source: CsvSource, target: Path) -> dict[int, str]:
    """Variants of the first data row that must be dead-lettered; returns line -> what. The sample is read
    as the connector reads it (any encoding, delimiter, line ending); raises SourceRefused for a sample the
    connector refuses, _NoFirstRecord for one without a readable record."""
    codec = source.file.encoding.codec
    delimiter = source.detect_delimiter()
    record = next((r for r in source.records() if isinstance(r, SourceRecord)), None)
    if record is None or not source.header:
        raise _NoFirstRecord("no record of this sample reads, so the kit cannot vary one into malformed rows: "
                             "give it a header row and at least one data row")
    header = source.header
    first = [record.data.get(name, "") for name in header]
    expected: dict[int, str] = {}
    lines = [header]

    def add(row: list[str], what: str | None) -> None:
        lines.append(row)
        if what:
            expected[len(lines)] = what

    date_columns = [i for i, h in enumerate(header) if ("日期" in h or "时间" in h) and first[i]]
    for i in date_columns[:1]:
        add([v if j != i else "2025-02-30" for j, v in enumerate(first)], f"impossible date in {header[i]}")
    add(first[: len(first) // 2], "missing columns")
    add([v if j != 1 else "X" * 10_500_000 for j, v in enumerate(first)], "a 10 MB field")
    for i in range(len(header)):  # each column blanked: must publish or dead-letter, never crash
        add([v if j != i else "" for j, v in enumerate(first)], None)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", delimiter=delimiter).writerows(lines)
    body = source.file.encoding.bom + buf.getvalue().encode(codec)
    bad_bytes_line = len(lines) + 1
    if source.file.encoding.width == 1:
        body += b"\xff\xfe\xfd" + "".join(delimiter + v for v in first[1:]).encode(codec) + b"\r\n"
        expected[bad_bytes_line] = "bytes that are not valid in the file's encoding"
    else:  # UTF-16/32: a lone surrogate is what cannot be decoded
        body += "\ud800".encode(codec, "surrogatepass") + ("".join(delimiter + v for v in first[1:]) + "\r\n").encode(codec)
        expected[bad_bytes_line] = "code units that are not valid in the file's encoding"
    truncated = delimiter.join(first)[: max(8, len(delimiter.join(first)) // 3)]
    body += truncated.encode(codec)
    expected[bad_bytes_line + 1] = "a truncated last line"
    target.write_bytes(body)
    return expected


def _encrypted_values(connector: Connector, record: SourceRecord) -> set[str]:
    """The values the connector maps `record`'s data into identifier fields (names, ID numbers, dates of
    birth) of persons. Not contact or free-text fields: a place (发生地点 "某村委会") may well also be an
    office's or a committee's name in clear, and phones are found by their shape."""
    try:
        mapped = connector.map(record)
    except Exception:  # a row that does not map is the mapping check's finding, not this one's
        return set()
    values: set[str] = set()
    for event in mapped:
        try:
            schema = loader.get(event.event_type).expanded
        except Exception:
            continue
        persons = {"parties": [p for p in event.fields.get("parties") or [] if isinstance(p, dict)
                               and p.get("kind") != "organisation"]}
        for pf in pii_fields(schema):
            if pf.pii_class != "identifier" or pf.path.startswith("envelope."):
                continue
            found = _values_at(persons if pf.path.startswith("parties[].") else event.fields, pf.path)
            values |= {v.strip() for v in found if isinstance(v, str)}
    return values


def _paths_holding(records: list[dict[str, Any]], secret: str) -> list[str]:
    """The contract fields (generic paths) whose published text holds `secret`."""
    found: set[str] = set()

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for child in value:
                walk(child, f"{path}[]")
        elif isinstance(value, str) and secret in value:
            found.add(path)

    for record in records:
        walk(record, "")
    return sorted(found, key=lambda p: (p.startswith("envelope."), p))
