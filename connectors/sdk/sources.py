"""Sources: where a connector reads its agency's records from.

A source yields `SourceRecord`s — a dict of column -> text plus where it came from
("court_cases.csv:17") and its bytes as read — or `UnreadableRecord`s for input that cannot even
be read as a row (bad bytes, a broken quote, a JSON line nested too deep); the runtime dead-letters
both kinds with their position. A whole file that cannot be read as an export (no header, duplicate
column names) raises `SourceRefused` before its first record: nothing of it is published.
Integrators add a source by subclassing `Source` and implementing `records()`.

Files are read by `connectors.sdk.textfile` (every Unicode encoding and GB18030, any line ending,
mixed rows, bounded lines, resume tokens that notice a changed file).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import logging
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.sdk.errors import RecordError, SourceRefused
from connectors.sdk.textfile import Encoding, Line, LineReader, TextFile, clean_text, detect_encoding

__all__ = ["MAX_FIELD_BYTES", "CsvSource", "JsonLinesSource", "Source", "SourceRecord", "SqlSource",
           "UnreadableRecord", "detect_encoding", "record_from_original"]

log = logging.getLogger("justlink.connector")

MAX_FIELD_BYTES = 64 * 1024        # larger fields are refused: no agency column legitimately holds more
MAX_ROW_LINES = 100                # a quoted value may span lines, but not more than this many ...
MAX_ROW_BYTES = 4 * MAX_FIELD_BYTES  # ... nor more bytes: beyond either, the quote is a stray one
MAX_JSON_LINE_BYTES = 4 * MAX_FIELD_BYTES
MAX_JSON_DEPTH = 16                # agency records are flat; a little nesting is allowed, not a bomb
csv.field_size_limit(MAX_ROW_BYTES * 2)  # parse oversized fields, then refuse them with a clear reason


@dataclass(frozen=True, slots=True)
class SourceRecord:
    position: str            # human-readable origin, e.g. "police_incidents.csv:42"
    checkpoint: str          # opaque resume token: resume after this record
    data: dict[str, str]
    raw: bytes = b""         # the record's bytes as read: the original a dead letter keeps (sealed)
    line: int = 0            # first line of the record in its file (0 when not from a file)


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    position: str
    checkpoint: str
    error: RecordError
    raw: bytes | str = b""
    line: int = 0


class Source(ABC):
    """A place records come from. `records(after)` resumes after a checkpoint token."""

    name: str = "source"
    #: how a dead letter's original is to be read again (`record_from_original`): "json" means the
    #: original is the record's data as a JSON object
    format: str = "json"
    #: a file with a header row: a record that lacks a column the connector needs means the header is
    #: missing or wrong, and the runtime refuses the file instead of dead-lettering every row
    has_header: bool = False

    @abstractmethod
    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]: ...

    def size_hint(self) -> int | None:
        """Total work units for a progress bar (bytes for files), when known."""
        return None

    def progress(self, checkpoint: str | None) -> int:
        """How far `checkpoint` is, in the units of size_hint()."""
        return 0

    def original_meta(self) -> dict[str, str]:
        """What a dead letter records (in its headers) to read its original again."""
        return {"format": self.format}


class _FileSource(Source):
    """A source read from one export file."""

    def __init__(self, path: str | Path, encoding: Encoding | str | None = None) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._encoding = encoding
        self._file: TextFile | None = None

    @property
    def file(self) -> TextFile:
        """The export, opened on first use: a file that cannot be opened (a folder named x.csv, no
        permission, a dangling link) stops only its own run, which names it; a named pipe or a device is
        never opened (reading one could wait for ever)."""
        if self._file is None:
            mode = self.path.stat().st_mode
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, "a folder, not a file", str(self.path))
            if not stat.S_ISREG(mode):
                raise OSError(errno.EINVAL, "not a regular file (a named pipe, a socket or a device)", str(self.path))
            self._file = TextFile(self.path, self._encoding)
        return self._file

    @property
    def encoding(self) -> str:
        """The file's encoding as `open()` names it (utf-8, utf-8-sig, gb18030, utf-16, ...)."""
        return self.file.encoding.python_name

    def size_hint(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    def progress(self, checkpoint: str | None) -> int:
        parts = (checkpoint or "").split("@")
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0

    def original_meta(self) -> dict[str, str]:
        return {"format": self.format, "encoding": self.file.encoding.codec}

    def _check_not_binary(self) -> None:
        """A workbook or an archive is refused for what it is, before anything of it is read."""
        with self.path.open("rb") as fh:
            magic = fh.read(6)
        if magic[:4] in WORKBOOK_MAGIC:
            raise SourceRefused(self.name, "the file is an Excel workbook, not a text export: save it as CSV (CSV "
                                "UTF-8, or Unicode text)", rule="file.binary")
        if magic.startswith(COMPRESSED_MAGIC):
            raise SourceRefused(self.name, "the file is compressed (gzip, bzip2, xz, 7z or rar), not a text export: "
                                "unpack it and run on what it holds", rule="file.binary")

    def _reader(self, after: str | None, header_end: int = 0) -> LineReader | None:
        """A reader resumed after `after`, or None to go on from the top (saying why when the
        checkpoint no longer fits the file)."""
        point, why = self.file.resume_point(after)
        if why:
            log.info("reading %s from the top: %s; records already published count as duplicates",
                     self.name, why)
        if point is None or point.offset <= header_end:
            return None
        return self.file.reader(point)


def _line_error(line: Line) -> RecordError:
    rule = "line.too_long" if "longer than" in line.error else "line.encoding"
    return RecordError("", line.error, rule=rule)


def _position(name: str, first: Line, last: Line) -> str:
    where = f"{name}:{first.number}" + (f"-{last.number}" if last.number != first.number else "")
    if not last.terminated:
        where += " (last line has no line ending: the file may be truncated)"
    return where


class _Unclosed(Exception):
    """A quoted value ran past the row's bounds (lines, bytes, an unreadable line, the end of file)."""


@dataclass(slots=True)
class _Row:
    first: Line
    last: Line
    values: list[str] | None
    error: RecordError | None
    raw: bytes


class _RowReader:
    """Lines -> CSV rows. A quoted value may span lines only while the row stays within MAX_ROW_LINES
    and MAX_ROW_BYTES and comes out with the header's column count; otherwise the quote was a stray
    one: the row it opened in is dead-lettered alone and reading goes on with the next line."""

    def __init__(self, lines: Iterator[Line], delimiter: str, newline: bytes) -> None:
        self._lines = lines
        self._back: list[Line] = []
        self.delimiter = delimiter
        self.newline = newline
        self.header: list[str] | None = None

    def _next(self) -> Line | None:
        if self._back:
            return self._back.pop()
        return next(self._lines, None)

    def __iter__(self) -> Iterator[_Row]:
        while (line := self._next()) is not None:
            text = line.text
            if text is None:
                yield _Row(line, line, None, _line_error(line), line.raw)
            elif not text.strip():
                continue
            elif '"' not in text:
                yield _Row(line, line, text.split(self.delimiter), None, line.raw)
            else:
                yield self._quoted(line, text)

    def _quoted(self, first: Line, text: str) -> _Row:
        consumed = [first]
        size = len(first.raw)

        def feed() -> Iterator[str]:
            nonlocal size
            yield text + "\n"
            while True:
                if len(consumed) >= MAX_ROW_LINES or size >= MAX_ROW_BYTES:
                    raise _Unclosed
                nxt = self._next()
                if nxt is None:
                    return
                if nxt.text is None:
                    self._back.append(nxt)
                    raise _Unclosed
                consumed.append(nxt)
                size += len(nxt.raw)
                yield nxt.text + "\n"

        problem: Exception | None = None
        try:
            values: list[str] | None = next(csv.reader(feed(), delimiter=self.delimiter, strict=True))
        except (csv.Error, _Unclosed) as exc:
            values, problem = None, exc
        if values is not None and (len(consumed) == 1 or self.header is None or len(values) == len(self.header)):
            return _Row(first, consumed[-1], values, None, self.newline.join(line.raw for line in consumed))
        self._back.extend(reversed(consumed[1:]))
        unclosed = len(consumed) > 1 or isinstance(problem, _Unclosed) or "unexpected end" in str(problem)
        if unclosed:
            error = RecordError(self._opening_column(text), "a quoted value opens on this line and does not close "
                                "on it (a stray quote?); only this line is set aside", rule="csv.quote")
        else:
            error = RecordError("", f"not well-formed CSV: {problem}", rule="csv.syntax")
        return _Row(first, first, None, error, first.raw)

    def _opening_column(self, text: str) -> str:
        """The column whose value the stray quote opens (the last one a lenient parse sees)."""
        try:
            count = len(next(csv.reader([text], delimiter=self.delimiter)))
        except csv.Error:
            return ""
        if self.header and 0 < count <= len(self.header):
            return self.header[count - 1]
        return ""


_DIGITS4 = re.compile(r"\d{4}")
# a value no column is named like: a date or time, only digits and separators, or a long run of digits
# (an ID, phone or record number); a name with a year in it (2024年度结案数) is a name
_DATA_SHAPED = re.compile(r"^\d{4}[-/.]\d{1,2}|^\d{1,2}:\d{2}|^[\d\s.,:/+-]+$|\d{8}")


def _data_like(names: list[str]) -> list[int]:
    """The 1-based columns that make a first row look like data rather than column names: any data-shaped
    one, or two or more holding a four-digit number (a date, a case number, an ID)."""
    shaped = [i + 1 for i, name in enumerate(names) if name and _DATA_SHAPED.search(name)]
    if shaped:
        return shaped
    years = [i + 1 for i, name in enumerate(names) if _DIGITS4.search(name)]
    return years if len(years) >= 2 else []


OTHER_DELIMITERS = ("\t", ";", "|")
WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")   # .xlsx (a zip), .xls (OLE)
COMPRESSED_MAGIC = (b"\x1f\x8b", *(b"BZh%d" % level for level in range(1, 10)), b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")


class CsvSource(_FileSource):
    """A CSV export, first row the header; any encoding and line ending (see textfile). Comma-separated,
    or tab-, semicolon- or bar-separated when the header row says so (or as `delimiter` declares).

    Checkpoints are "<line>@<byte offset>@<hash of the bytes before it>": a resumed run seeks
    straight to the spot, and starts from the top when the file changed underneath.
    """

    format = "csv"
    has_header = True

    def __init__(self, path: str | Path, *, encoding: Encoding | str | None = None,
                 delimiter: str | None = None) -> None:
        super().__init__(path, encoding)
        self.delimiter = delimiter or ","
        self._told_by_header = delimiter is None   # comma unless the header row is tab-, ;- or |-separated
        self.header: list[str] | None = None

    def original_meta(self) -> dict[str, str]:
        return {**super().original_meta(), "delimiter": self.delimiter,
                "columns": json.dumps(self.header or [], ensure_ascii=False)}

    def _refuse(self, reason: str, rule: str) -> SourceRefused:
        return SourceRefused(self.name, reason, rule=rule)

    def _read_header(self, rows: _RowReader) -> tuple[list[str], Line] | None:
        self._check_not_binary()
        for row in rows:
            if row.values is None:
                if row.error is not None and row.error.rule.startswith("line."):
                    raise self._refuse(f"the header row (line {row.first.number}) is not readable text: "
                                       f"{row.error.reason}", "file.encoding")
                raise self._refuse(f"the header row (line {row.first.number}) is not well-formed CSV: "
                                   f"{row.error.reason if row.error else ''}", "file.header_syntax")
            names = [clean_text(value).strip() for value in row.values]
            data_like = _data_like(names)
            if data_like:
                raise self._refuse(
                    f"the first row looks like data, not column names (column {data_like[0]} holds a number or "
                    "a date): the header row seems to be missing; add it and run again", "file.header_missing")
            seen: dict[str, int] = {}
            for i, name in enumerate(names, start=1):
                if not name:
                    continue
                if name in seen:
                    raise self._refuse(f"header columns {seen[name]} and {i} are both named {name}: rename one "
                                       "so that every column has its own name", "file.header_duplicate")
                seen[name] = i
            raw, text = row.first.raw, row.first.text or ""
            if (self.file.encoding.width == 1 and b"\x00" in raw) or text.count("\ufffd") > 3:
                raise self._refuse("the header row holds binary data: is this a text export?", "file.binary")
            return names, row.last
        return None

    def detect_delimiter(self) -> str:
        """The delimiter, told by the header row unless one was declared (see _delimiter_of_header)."""
        if self._told_by_header:
            self.delimiter = self._delimiter_of_header()
        return self.delimiter

    def _delimiter_of_header(self) -> str:
        """Excel's "Unicode text" is tab-separated, some systems write ; or |: a header row without a comma
        but with one of these is separated by it."""
        for line in self.file.reader().lines():
            if line.text is None:
                break
            if not line.text.strip():
                continue
            if "," not in line.text:
                for candidate in OTHER_DELIMITERS:
                    if candidate in line.text:
                        return candidate
            break
        return ","

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        newline = "\n".encode(self.file.encoding.codec)
        rows = _RowReader(self.file.reader().lines(), self.detect_delimiter(), newline)
        found = self._read_header(rows)
        if found is None:
            return                      # an empty file: nothing to read
        header, header_line = found
        self.header = rows.header = header
        resumed = self._reader(after, header_line.end)
        if resumed is not None:
            rows = _RowReader(resumed.lines(), self.delimiter, newline)
            rows.header = header
        columns = len(header)
        name = self.name
        for row in rows:
            first, last = row.first, row.last
            checkpoint = last.checkpoint
            values = row.values
            if values is None:
                assert row.error is not None
                yield UnreadableRecord(_position(name, first, last), checkpoint, row.error, row.raw, first.number)
                continue
            if len(values) != columns:
                yield UnreadableRecord(_position(name, first, last), checkpoint, RecordError(
                    "", f"expected {columns} columns as in the header, found {len(values)} (truncated or extra "
                        "columns)", rule="csv.column_count"), row.raw, first.number)
                continue
            big = next((h for h, v in zip(header, values, strict=True)
                        if len(v) > MAX_FIELD_BYTES // 4 and len(v.encode()) > MAX_FIELD_BYTES), None)
            if big is not None:
                yield UnreadableRecord(_position(name, first, last), checkpoint, RecordError(
                    big, f"the value is larger than {MAX_FIELD_BYTES} bytes", rule="field.too_large"),
                    row.raw, first.number)
                continue
            yield SourceRecord(_position(name, first, last), checkpoint, dict(zip(header, values, strict=True)),
                               row.raw, first.number)


def json_depth(text: str) -> int:
    """How deep brackets nest outside of strings."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for i, (key, value) in enumerate(pairs, start=1):
        if key in obj:
            first = next(n for n, (k, _) in enumerate(pairs, start=1) if k == key)
            raise _DuplicateKey(f"key number {i} of an object repeats key number {first}")
        obj[key] = value
    return obj


def parse_json_object(text: str) -> dict[str, str]:
    """One JSON line as column -> text; raises RecordError (never echoing the line)."""
    if len(text) > MAX_JSON_DEPTH and text.count("[") + text.count("{") > MAX_JSON_DEPTH \
            and json_depth(text) > MAX_JSON_DEPTH:
        raise RecordError("", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels", rule="json.too_deep")
    try:
        obj = json.loads(text, object_pairs_hook=_unique_pairs, strict=False)  # raw tabs in strings are fine
    except _DuplicateKey as exc:
        raise RecordError("", str(exc), rule="json.duplicate_key") from None
    except json.JSONDecodeError as exc:
        raise RecordError("", f"not valid JSON: {exc.msg} at column {exc.colno}", rule="json.syntax") from None
    except (ValueError, RecursionError) as exc:
        raise RecordError("", f"not valid JSON ({type(exc).__name__})", rule="json.syntax") from None
    if not isinstance(obj, dict):
        raise RecordError("", f"a JSON object was expected, found a JSON {type(obj).__name__}", rule="json.not_object")
    return {clean_text(str(k)).strip(): _text(v) for k, v in obj.items()}


class JsonLinesSource(_FileSource):
    """One JSON object per line; any encoding and line ending (see textfile)."""

    format = "jsonl"

    def __init__(self, path: str | Path, *, encoding: Encoding | str | None = None) -> None:
        super().__init__(path, encoding)

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        self._check_not_binary()
        reader = self._reader(after) or self.file.reader()
        name = self.name
        for line in reader.lines():
            text = line.text
            position = _position(name, line, line)
            if text is None:
                yield UnreadableRecord(position, line.checkpoint, _line_error(line), line.raw, line.number)
                continue
            if not text.strip():
                continue
            if len(line.raw) > MAX_JSON_LINE_BYTES:
                yield UnreadableRecord(position, line.checkpoint, RecordError(
                    "", f"the JSON line is larger than {MAX_JSON_LINE_BYTES} bytes", rule="line.too_long"),
                    line.raw, line.number)
                continue
            try:
                data = parse_json_object(text)
            except RecordError as exc:
                yield UnreadableRecord(position, line.checkpoint, exc, line.raw, line.number)
                continue
            yield SourceRecord(position, line.checkpoint, data, line.raw, line.number)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return clean_text(value)
    return clean_text(json.dumps(value, ensure_ascii=False))


def record_from_original(meta: dict[str, str], raw: bytes, position: str) -> SourceRecord | UnreadableRecord:
    """A dead letter's original read again as its source read it (`Source.original_meta()` says how)."""
    fmt = meta.get("format", "json")
    codec = meta.get("encoding", "utf-8")
    try:
        text = clean_text(raw.decode(codec))
    except (UnicodeDecodeError, LookupError):
        try:
            text = clean_text(raw.decode("gb18030" if codec == "utf-8" else "utf-8"))
        except UnicodeDecodeError:
            return UnreadableRecord(position, "", RecordError("", f"the original is not valid {codec}",
                                                              rule="line.encoding"), raw)
    if fmt == "csv":
        header = json.loads(meta.get("columns") or "[]")
        try:
            rows = list(csv.reader(io.StringIO(text), delimiter=meta.get("delimiter", ","), strict=True))
        except csv.Error as exc:
            return UnreadableRecord(position, "", RecordError("", f"not well-formed CSV: {exc}", rule="csv.syntax"),
                                    raw)
        if len(rows) != 1 or len(rows[0]) != len(header):
            return UnreadableRecord(position, "", RecordError(
                "", f"expected {len(header)} columns as in the header, found "
                    f"{len(rows[0]) if len(rows) == 1 else 'several rows'}", rule="csv.column_count"), raw)
        return SourceRecord(position, "", dict(zip(header, rows[0], strict=True)), raw)
    try:
        return SourceRecord(position, "", parse_json_object(text), raw)
    except RecordError as exc:
        return UnreadableRecord(position, "", exc, raw)


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
