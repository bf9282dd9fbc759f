"""Sources: where a connector reads its agency's records from.

A source yields `SourceRecord`s — a dict of column -> text plus the position it came
from ("court_cases.csv:17") — or `RecordError`s for input that cannot even be read as a
row (bad bytes, a broken line); the runtime dead-letters both kinds with their position.
Integrators add a source by subclassing `Source` and implementing `records()`.
"""

from __future__ import annotations

import csv
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.sdk.errors import RecordError

MAX_FIELD_BYTES = 64 * 1024  # larger fields are refused: no agency column legitimately holds more
ENCODINGS = ("utf-8", "gb18030")
csv.field_size_limit(1 << 28)  # parse oversized fields, then refuse them with a clear reason


@dataclass(frozen=True, slots=True)
class SourceRecord:
    position: str            # human-readable origin, e.g. "police_incidents.csv:42"
    checkpoint: str          # opaque resume token: resume after this record
    data: dict[str, str]


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    position: str
    checkpoint: str
    error: RecordError
    raw: str


class Source(ABC):
    """A place records come from. `records(after)` resumes after a checkpoint token."""

    name: str = "source"

    @abstractmethod
    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]: ...

    def size_hint(self) -> int | None:
        """Total work units for a progress bar (bytes for files), when known."""
        return None


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, else GB18030."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still UTF-8
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        # a few bad lines must not turn a UTF-8 export into GB18030 (every line would be garbled):
        # GB18030 text decoded as UTF-8 is almost all errors, UTF-8 text with a bad line almost none
        text = head.decode("utf-8", errors="replace")
        bad = text.count("\ufffd")
        return "utf-8" if sum(1 for ch in text if ord(ch) > 0x7F) - bad > 4 * bad else "gb18030"


class _LineReader:
    """Physical lines -> logical CSV lines (quoted newlines joined), decoded one by one so
    that one bad line does not spoil the file."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.path = path
        self.encoding = encoding.replace("-sig", "")

    def lines(self, skip_bom: bool) -> Iterator[tuple[int, int, bytes]]:
        """(line number, end offset, raw bytes of one logical line)."""
        with self.path.open("rb") as fh:
            offset = 0
            number = 0
            pending: list[bytes] = []
            start_number = 1
            for raw in fh:
                number += 1
                if number == 1 and skip_bom and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                    offset += 3
                offset += len(raw)
                if not pending:
                    start_number = number
                pending.append(raw)
                joined = b"".join(pending)
                if joined.count(b'"') % 2 == 1 and len(pending) < 50 and len(joined) < 4 * MAX_FIELD_BYTES:
                    continue  # a quoted field spans lines
                pending = []
                yield start_number, offset, joined
            if pending:
                yield start_number, offset, b"".join(pending)


class CsvSource(Source):
    """A CSV export, UTF-8 or GB18030 (detected), first row the header.

    Checkpoints are "<line>@<byte offset>" so a resumed run seeks straight to the spot.
    """

    def __init__(self, path: str | Path, *, encoding: str | None = None, delimiter: str = ",") -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.delimiter = delimiter
        with self.path.open("rb") as fh:
            head = fh.read(64 * 1024)
        self.encoding = encoding or detect_encoding(head)

    def size_hint(self) -> int | None:
        return self.path.stat().st_size

    def _parse(self, text: str) -> list[str]:
        rows = list(csv.reader(io.StringIO(text), delimiter=self.delimiter, strict=True))
        if len(rows) != 1:
            raise RecordError("", f"expected one CSV row, found {len(rows)}")
        return rows[0]

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        resume_line = int(after.split("@", 1)[0]) if after else 0
        reader = _LineReader(self.path, self.encoding)
        header: list[str] | None = None
        for number, end, raw in reader.lines(skip_bom=True):
            position = f"{self.name}:{number}"
            if not raw.endswith(b"\n"):
                position += " (last line has no line ending: the file may be truncated)"
            checkpoint = f"{number}@{end}"
            try:
                text = raw.decode(reader.encoding)
            except UnicodeDecodeError as exc:
                if header is None:
                    raise RecordError("", f"{position}: header is not valid {self.encoding}") from None
                yield UnreadableRecord(position, checkpoint, RecordError(
                    "", f"bytes {exc.start}-{exc.end} of the line are not valid {self.encoding} "
                        f"(file encoding detected as {self.encoding})"), raw.decode(reader.encoding, "replace"))
                continue
            text = text.rstrip("\r\n")
            if header is None:
                header = [h.strip() for h in self._parse(text)]
                if len(set(header)) != len(header):
                    raise RecordError("", f"{position}: duplicate column names in the header")
                continue
            if number <= resume_line or not text.strip():
                continue
            try:
                values = self._parse(text)
            except (csv.Error, RecordError) as exc:
                yield UnreadableRecord(position, checkpoint, RecordError("", f"malformed CSV line: {exc}"), text)
                continue
            big = next((h for h, v in zip(header, values, strict=False) if len(v) > MAX_FIELD_BYTES // 3
                        and len(v.encode()) > MAX_FIELD_BYTES), None)
            if big is not None:
                yield UnreadableRecord(position, checkpoint, RecordError(
                    big, f"field is larger than {MAX_FIELD_BYTES} bytes"), text[:200])
                continue
            if len(values) != len(header):
                yield UnreadableRecord(position, checkpoint, RecordError(
                    "", f"expected {len(header)} columns as in the header, found {len(values)} "
                        "(truncated or extra columns)"), text)
                continue
            yield SourceRecord(position, checkpoint, dict(zip(header, values, strict=True)))


class JsonLinesSource(Source):
    """One JSON object per line (UTF-8 or GB18030)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        with self.path.open("rb") as fh:
            self.encoding = detect_encoding(fh.read(64 * 1024))

    def size_hint(self) -> int | None:
        return self.path.stat().st_size

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        resume_line = int(after.split("@", 1)[0]) if after else 0
        encoding = self.encoding.replace("-sig", "")
        with self.path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                position, checkpoint = f"{self.name}:{number}", f"{number}@0"
                if number <= resume_line or not raw.strip():
                    continue
                if len(raw) > 4 * MAX_FIELD_BYTES:
                    yield UnreadableRecord(position, checkpoint, RecordError(
                        "", f"line is larger than {4 * MAX_FIELD_BYTES} bytes"), "")
                    continue
                try:
                    obj = json.loads(raw.decode(encoding))
                    if not isinstance(obj, dict):
                        raise ValueError("a JSON object was expected")
                except (UnicodeDecodeError, ValueError) as exc:
                    yield UnreadableRecord(position, checkpoint, RecordError("", f"malformed JSON line: {exc}"),
                                           raw.decode(encoding, "replace"))
                    continue
                yield SourceRecord(position, checkpoint, {str(k): _text(v) for k, v in obj.items()})


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class SqlSource(Source):
    """Polls a table through any DB-API connection, incrementally by a sequence or
    updated-at column, with the key column breaking ties so no row is skipped when many
    share one timestamp:

        SELECT ... WHERE col > :v OR (col = :v AND key > :k) ORDER BY col, key LIMIT n

    The checkpoint is "<last col value>\x1f<last key>". Values are compared as the
    database compares them, so the column should sort correctly (ISO timestamps do).
    """

    def __init__(self, connect: Callable[[], Any], table: str, *, incremental_column: str, key_column: str,
                 columns: str = "*", batch_size: int = 1000, paramstyle: str = "qmark") -> None:
        self.connect = connect
        self.table = table
        self.name = table
        self.incremental_column = incremental_column
        self.key_column = key_column
        self.columns = columns
        self.batch_size = batch_size
        if paramstyle not in ("qmark", "format"):
            raise ValueError("paramstyle must be 'qmark' (sqlite3) or 'format' (psycopg, pymysql)")
        self.mark = "?" if paramstyle == "qmark" else "%s"

    def _query(self, resume: bool) -> str:
        col, key, m = self.incremental_column, self.key_column, self.mark
        where = f"WHERE {col} > {m} OR ({col} = {m} AND {key} > {m}) " if resume else ""
        return f"SELECT {self.columns} FROM {self.table} {where}ORDER BY {col}, {key} LIMIT {self.batch_size}"

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        conn = self.connect()
        try:
            last = tuple(after.split("\x1f", 1)) if after else None
            while True:
                cur = conn.cursor()
                if last is None:
                    cur.execute(self._query(resume=False))
                else:
                    cur.execute(self._query(resume=True), (last[0], last[0], last[1]))
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
                for row in rows:
                    data = {n: _text(v) for n, v in zip(names, row, strict=True)}
                    last = (data[self.incremental_column], data[self.key_column])
                    yield SourceRecord(f"{self.table}:{last[1]}", "\x1f".join(last), data)
                if len(rows) < self.batch_size:
                    return
        finally:
            conn.close()
