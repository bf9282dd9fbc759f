"""Every export an agency's system may really write, through each reference connector: 60+ malformed
variants per format (CSV and JSON lines) built from the generated county's own exports — every Unicode
encoding with and without BOM, GB18030 and GBK, mixed rows, every line ending, missing and duplicate
headers, stray quotes, oversize and deeply nested lines, invisible characters, truncation, junk.

For each run: no exception escapes (0 tracebacks), read = published + dead-lettered + duplicates
(nothing filtered: every row of these exports maps), no event is published twice (a file that repeats
its rows publishes them once), a file-level refusal publishes nothing and says
why, every valid row around a bad one is published (checked by record key against a clean run), every
damaged row that is not published is dead-lettered, and no dead letter's headers hold a value of the
rows.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, JsonLinesSource, RunSummary
from connectors.sdk.deadletter import DeadLetter, read_dead_letters
from connectors.sdk.errors import RULES
from connectors.synthetic.exporters import FILES
from connectors.synthetic.generator import generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from schemas.wire import default_codec

PERSONAL = ("姓名", "名称", "证件号码", "身份证号", "联系电话", "住址", "地址", "出生日期")
ROWS = 24          # data rows per variant (the first ones of the agency's export)
FILES_BY_AGENCY = {"court": "court/court_case_nodes.csv", "police": "police/police_incidents.csv",
                   "civil_affairs": "civil_affairs/marriage_registrations.csv",
                   "justice": "justice/mediation_cases.csv"}


@dataclass
class Variant:
    data: bytes
    damaged: set[int] = field(default_factory=set)     # row indices that may be dead-lettered
    refused: bool = False
    rows: list[int] | None = None                       # row indices present (default: all)


@dataclass
class Export:
    agency: str
    header: list[str]
    rows: list[list[str]]
    good: set[int]          # rows a clean run publishes (the county has noise on purpose)
    native: str             # the export's own encoding


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("malformed-county")
    generate(out, 400, seed=21)
    return out


@pytest.fixture(scope="module")
def protector(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("malformed-keys")
    init_keystore(data)
    keystore = open_keystore(data)
    yield Protector(keystore)
    keystore.close()


def run_file(path: Path, agency: str, protector: Protector, work: Path,
             jsonl: bool) -> tuple[RunSummary, set[str], list[DeadLetter], int]:
    """The run's summary, the record keys it published, its dead letters and how many of its events were
    published more than once (by event id)."""
    log = EmbeddedEventLog(work / "log.db")
    state = ConnectorState(work / "state.db")
    try:
        runner = ConnectorRunner(get_connector(agency), log, protector, state, progress=False)
        source = JsonLinesSource(path) if jsonl else CsvSource(path)
        summary = runner.run(source)
        keys = set()
        event_ids: list[str] = []
        if f"justlink.{agency}.events" in log.topics():
            consumer = log.consumer("check", [f"justlink.{agency}.events"])
            while batch := consumer.poll(1000, timeout_s=0):
                envelopes = [default_codec().decode(r.value)[1]["envelope"] for r in batch]
                keys |= {e["source_record_key"] for e in envelopes}
                event_ids += [e["event_id"] for e in envelopes]
            consumer.close()
        letters = list(read_dead_letters(log, [f"justlink.{agency}.deadletter"], group="check-letters", wait_s=0))
        return summary, keys, letters, len(event_ids) - len(set(event_ids))
    finally:
        log.close()
        state.close()


def load_export(county: Path, agency: str, protector: Protector, work: Path) -> Export:
    spec = next(s for s in FILES if s.path == FILES_BY_AGENCY[agency])
    with (county / spec.path).open(encoding=spec.encoding, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    rows = rows[:ROWS]
    work.mkdir(parents=True, exist_ok=True)
    clean = work / "clean.csv"
    clean.write_bytes(csv_bytes(header, rows, "utf-8"))
    summary, keys, _, _ = run_file(clean, agency, protector, work, jsonl=False)
    assert summary.balanced and summary.published >= ROWS // 2
    return Export(agency, header, rows, {i for i, row in enumerate(rows) if row[0] in keys}, spec.encoding)


# -- building variants ----------------------------------------------------------------------------------

def csv_text(header: list[str] | None, rows: list[list[str]], newline: str = "\r\n", delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline, delimiter=delimiter)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_bytes(header: list[str] | None, rows: list[list[str]], codec: str, bom: bytes = b"",
              newline: str = "\r\n", delimiter: str = ",") -> bytes:
    return bom + csv_text(header, rows, newline, delimiter).encode(codec)


def jsonl_text(header: list[str], rows: list[list[str]], newline: str = "\n", ascii_only: bool = False) -> str:
    return "".join(json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=ascii_only) + newline
                   for row in rows)


def lines_of(text: str, newline: str = "\r\n") -> list[str]:
    return text.split(newline)


ENCODINGS: list[tuple[str, str, bytes]] = [
    ("utf8", "utf-8", b""), ("utf8-bom", "utf-8", codecs.BOM_UTF8), ("gb18030", "gb18030", b""),
    ("gbk", "gbk", b""), ("gb18030-with-utf8-bom", "gb18030", codecs.BOM_UTF8),
    ("utf16le-bom", "utf-16-le", codecs.BOM_UTF16_LE), ("utf16be-bom", "utf-16-be", codecs.BOM_UTF16_BE),
    ("utf16le", "utf-16-le", b""), ("utf16be", "utf-16-be", b""),
    ("utf32le-bom", "utf-32-le", codecs.BOM_UTF32_LE), ("utf32be-bom", "utf-32-be", codecs.BOM_UTF32_BE),
    ("utf32le", "utf-32-le", b""), ("utf32be", "utf-32-be", b""),
]


def _encodable(export: Export, codec: str) -> bool:
    try:
        csv_text(export.header, export.rows).encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def _address_column(export: Export, row: list[str]) -> int:
    return next((i for i, h in enumerate(export.header) if h.endswith(("住址", "地址")) and row[i]), -1)


def _text_column(export: Export) -> int:
    """A column whose value maps to a party's name (damaging it damages only that row)."""
    return next(i for i, h in enumerate(export.header) if h.endswith(("姓名", "名称")) and h != "节点名称")


def _raw_lines(export: Export, codec: str = "utf-8") -> list[bytes]:
    return [line.encode(codec) for line in lines_of(csv_text(export.header, export.rows))[:-1]]


def _join(lines: list[bytes], newline: bytes = b"\r\n") -> bytes:
    return b"".join(line + newline for line in lines)


def csv_variants(export: Export) -> dict[str, Variant]:
    h, rows, n = export.header, export.rows, len(export.rows)
    v: dict[str, Variant] = {}
    for name, codec, bom in ENCODINGS:
        if _encodable(export, codec):
            v[f"encoding {name}"] = Variant(csv_bytes(h, rows, codec, bom))
    for name, newline in (("LF", "\n"), ("CR", "\r"), ("CRLF", "\r\n")):
        v[f"line endings {name}"] = Variant(csv_bytes(h, rows, "utf-8", newline=newline))
        v[f"line endings {name} utf16"] = Variant(csv_bytes(h, rows, "utf-16-le", codecs.BOM_UTF16_LE, newline))
    rng = random.Random(1)
    mixed = b"".join(line.encode() + rng.choice([b"\r\n", b"\n", b"\r"]) for line in lines_of(csv_text(h, rows))[:-1])
    v["line endings mixed"] = Variant(mixed)
    lines = _raw_lines(export)
    v["mixed rows utf8 and gb18030"] = Variant(_join([
        line if i % 2 else line.decode().encode("gb18030") for i, line in enumerate(lines)]))
    v["mixed rows gb18030 with utf8 rows"] = Variant(_join([
        line.decode().encode("gb18030") if i % 3 else line for i, line in enumerate(lines)]))
    v["undecodable row"] = Variant(_join(lines[:4] + [lines[4][:12] + b"\xff\xfe\x80" + lines[4][12:]] + lines[5:]),
                                   damaged={3})
    v["undecodable row in gb18030 file"] = Variant(_join(
        [line.decode().encode("gb18030") for line in lines[:6]] + [b"\xff" * 9 + lines[6]]
        + [line.decode().encode("gb18030") for line in lines[7:]]), damaged={5})
    v["blank lines between and after rows"] = Variant(_join([x for line in lines for x in (line, b"", b"   ")]))
    v["no final line ending"] = Variant(_join(lines)[:-2])
    v["truncated last row"] = Variant(_join(lines)[:-25], damaged={n - 1})
    v["ctrl-z at the end"] = Variant(_join(lines) + b"\x1a")
    v["header missing"] = Variant(csv_bytes(None, rows, "utf-8"), refused=True)
    dup = list(h)
    dup[3] = dup[1]
    v["duplicate header column"] = Variant(csv_bytes(dup, rows, "utf-8"), refused=True)
    renamed = list(h)
    renamed[0] = "编号"
    v["header without the key column"] = Variant(csv_bytes(renamed, rows, "utf-8"), refused=True)
    v["header only"] = Variant(csv_bytes(h, [], "utf-8"), rows=[])
    v["empty file"] = Variant(b"", rows=[])
    v["only blank lines"] = Variant(b"\r\n\r\n  \r\n", rows=[])
    for delimiter_name, delimiter in (("tab", "\t"), ("semicolon", ";"), ("bar", "|")):
        v[f"{delimiter_name}-delimited"] = Variant(csv_bytes(h, rows, "utf-8", delimiter=delimiter))
    v["Excel unicode text (utf16 with tabs)"] = Variant(csv_bytes(h, rows, "utf-16-le", codecs.BOM_UTF16_LE,
                                                                  delimiter="\t"))
    v["tab-delimited with quoted header names"] = Variant(
        ("\t".join(f'"{name}"' for name in h) + "\r\n").encode() + csv_bytes(None, rows, "utf-8", delimiter="\t"))
    v["tab-delimited without a header"] = Variant(csv_bytes(None, rows, "utf-8", delimiter="\t"), refused=True)
    v["header names padded and quoted"] = Variant(
        (",".join(f'" {name} "' for name in h) + "\r\n").encode() + csv_bytes(None, rows, "utf-8"))
    v["invisible characters in the header"] = Variant(
        (",".join("\u200b" + name + "\ufeff" for name in h) + "\r\n").encode() + csv_bytes(None, rows, "utf-8"))
    v["reordered columns"] = Variant(csv_bytes(h[::-1], [r[::-1] for r in rows], "utf-8"))
    shuffled = list(range(n))
    random.Random(2).shuffle(shuffled)
    v["reordered rows"] = Variant(csv_bytes(h, [rows[i] for i in shuffled], "utf-8"))
    v["every row twice"] = Variant(csv_bytes(h, rows + rows, "utf-8"))
    col = _text_column(export)

    def edit(index: int, change: Callable[[str], str], column: int = col) -> list[list[str]]:
        edited = [list(r) for r in rows]
        edited[index][column] = change(edited[index][column])
        return edited

    stray = lines[5].split(b",")
    stray[col] = b'"' + stray[col]
    v["stray opening quote in row 5"] = Variant(_join(lines[:5] + [b",".join(stray)] + lines[6:]), damaged={4})
    stray_last = lines[-1].split(b",")
    stray_last[-1] = b'"' + stray_last[-1]
    v["stray quote in the last row"] = Variant(_join(lines[:-1] + [b",".join(stray_last)]), damaged={n - 1})
    mid = lines[7].split(b",")
    mid[col] = mid[col][:3] + b'"' + mid[col][3:]
    v["quote inside an unquoted value"] = Variant(_join(lines[:7] + [b",".join(mid)] + lines[8:]), damaged={6})
    after = lines[3].split(b",")
    after[col] = b'"' + after[col] + b'"x'
    v["text after a closing quote"] = Variant(_join(lines[:3] + [b",".join(after)] + lines[4:]), damaged={2})
    v["a stray quote on every row"] = Variant(_join(
        [lines[0]] + [b'"' + line for line in lines[1:]]), damaged=set(range(n)))
    v["quote opened in the header"] = Variant(_join([b'"' + lines[0]] + lines[1:]), refused=True)
    r = next(i for i in sorted(export.good) if _address_column(export, rows[i]) >= 0)
    addr = _address_column(export, rows[r])
    v["quoted value with a line break"] = Variant(csv_bytes(h, edit(r, lambda s: s[:3] + "\n" + s[3:], addr), "utf-8"))
    v["quoted value with CRLF"] = Variant(csv_bytes(h, edit(r, lambda s: s[:3] + "\r\n" + s[3:], addr), "utf-8"))
    v["quoted value with doubled quotes"] = Variant(csv_bytes(h, edit(r, lambda s: s + '"3"号', addr), "utf-8"))
    v["CR inside an unquoted value"] = Variant(_join(
        lines[:3] + [lines[3].replace(b",", b"\r", 1)] + lines[4:]), damaged={2})
    v["NUL bytes in a row"] = Variant(_join(lines[:6] + [lines[6].replace(b",", b"\x00,", 3)] + lines[7:]))
    v["BOM in the middle of the file"] = Variant(_join(lines[:8] + [codecs.BOM_UTF8 + lines[8]] + lines[9:]))
    v["zero-width space in a record key"] = Variant(csv_bytes(h, edit(9, lambda s: s[:2] + "\u200b" + s[2:], 0),
                                                              "utf-8"))
    v["bidi and soft-hyphen marks in values"] = Variant(csv_bytes(h, edit(4, lambda s: "\u202e" + s + "\u00ad"),
                                                                  "utf-8"))
    v["extra column in a row"] = Variant(_join(lines[:5] + [lines[5] + b",x"] + lines[6:]), damaged={4})
    v["missing columns in a row"] = Variant(_join(lines[:5] + [b",".join(lines[5].split(b",")[:4])] + lines[6:]),
                                            damaged={4})
    v["row cut in the middle"] = Variant(_join(lines[:5] + [lines[5][: len(lines[5]) // 2]] + lines[6:]),
                                         damaged={4})
    v["10 MB value"] = Variant(csv_bytes(h, edit(3, lambda s: "长" * 3_500_000), "utf-8"), damaged={3})
    v["20 MB line without a break"] = Variant(_join(lines[:4] + [b"x" * 20_000_000] + lines[4:]))
    v["binary junk row"] = Variant(_join(lines[:4] + [bytes(range(256)) * 3] + lines[4:]))
    v["row of delimiters only"] = Variant(_join(lines[:4] + [b"," * (len(h) - 1)] + lines[4:]))
    v["line separator in a value"] = Variant(csv_bytes(h, edit(6, lambda s: s + "\u2028"), "utf-8"), damaged={6})
    v["header with a trailing empty column"] = Variant(csv_bytes(h + [""], [r + [""] for r in rows], "utf-8"))
    v["a year in a column's name"] = Variant(csv_bytes(h + ["2024年度备注"], [r + [""] for r in rows], "utf-8"))
    v["utf8 bom with CR endings"] = Variant(csv_bytes(h, rows, "utf-8", codecs.BOM_UTF8, "\r"))
    u16 = csv_bytes(h, rows, "utf-16-le", codecs.BOM_UTF16_LE)
    v["utf16 cut mid code unit"] = Variant(u16[:-3], damaged={n - 1})
    surrogate = csv_text(h, rows[:5]).encode("utf-16-le") + "\ud800".encode("utf-16-le", "surrogatepass") \
        + csv_text(None, rows[5:]).encode("utf-16-le")
    v["utf16 lone surrogate"] = Variant(codecs.BOM_UTF16_LE + surrogate, damaged={5})
    v["binary file (zip)"] = Variant(b"PK\x03\x04" + bytes(range(256)) * 40, refused=True, rows=[])
    v["gzip-compressed export"] = Variant(gzip.compress(csv_bytes(h, rows, "utf-8")), refused=True, rows=[])
    return v


def jsonl_variants(export: Export) -> dict[str, Variant]:
    h, rows, n = export.header, export.rows, len(export.rows)
    text = jsonl_text(h, rows)
    v: dict[str, Variant] = {}
    for name, codec, bom in ENCODINGS:
        if _encodable(export, codec):
            v[f"encoding {name}"] = Variant(bom + text.encode(codec))
    v["ascii escapes"] = Variant(jsonl_text(h, rows, ascii_only=True).encode())
    for name, newline in (("CRLF", "\r\n"), ("CR", "\r")):
        v[f"line endings {name}"] = Variant(jsonl_text(h, rows, newline).encode())
    lines = [line.encode() for line in text.split("\n")[:-1]]

    def join(items: list[bytes]) -> bytes:
        return b"".join(item + b"\n" for item in items)

    def obj(i: int) -> dict[str, object]:
        return dict(zip(h, rows[i], strict=True))

    def replace_line(i: int, new: bytes | str) -> list[bytes]:
        out = list(lines)
        out[i] = new.encode() if isinstance(new, str) else new
        return out

    v["mixed rows utf8 and gb18030"] = Variant(join([
        line if i % 2 else line.decode().encode("gb18030") for i, line in enumerate(lines)]))
    v["undecodable line"] = Variant(join(replace_line(3, lines[3][:10] + b"\xff\xfe" + lines[3][10:])), damaged={3})
    v["blank lines"] = Variant(join([x for line in lines for x in (line, b"", b" \t ")]))
    v["no final line ending"] = Variant(join(lines)[:-1])
    v["truncated last line"] = Variant(join(lines)[:-30], damaged={n - 1})
    deep = json.dumps(obj(4), ensure_ascii=False)[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    v["line nested 100000 deep"] = Variant(join(replace_line(4, deep)), damaged={4})
    v["line nested 100000 deep, unclosed"] = Variant(join(replace_line(4, "[" * 100_000)), damaged={4})
    just_over = json.dumps({**obj(5), "x": json.loads("[" * 17 + "]" * 17)}, ensure_ascii=False)
    v["line nested just over the bound"] = Variant(join(replace_line(5, just_over)), damaged={5})
    within = json.dumps({**obj(5), "x": json.loads("[" * 8 + "]" * 8)}, ensure_ascii=False)
    v["nested value in an unknown key"] = Variant(join(replace_line(5, within)))
    brackets_in_string = json.dumps({**obj(6), "x": "[" * 5000}, ensure_ascii=False)
    v["brackets inside a string"] = Variant(join(replace_line(6, brackets_in_string)))
    v["1 MB line"] = Variant(join(replace_line(2, json.dumps({**obj(2), "x": "y" * 1_000_000}))), damaged={2})
    v["20 MB line without a break"] = Variant(join(lines[:3] + [b"{" + b'"a":1,' * 3_500_000] + lines[3:]))
    for kind, value in (("array", "[1,2]"), ("string", '"text"'), ("number", "12"), ("null", "null"),
                        ("true", "true"), ("array of the row", json.dumps([obj(7)], ensure_ascii=False))):
        v[f"line is a JSON {kind}"] = Variant(join(replace_line(7, value)), damaged={7})
    v["truncated JSON line"] = Variant(join(replace_line(8, lines[8][: len(lines[8]) // 2])), damaged={8})
    v["trailing comma"] = Variant(join(replace_line(8, lines[8][:-1] + b",}")), damaged={8})
    v["duplicate key"] = Variant(join(replace_line(8, lines[8][:-1] + b', "' + h[0].encode() + b'": "x"}')),
                                 damaged={8})
    v["NaN and Infinity in unknown keys"] = Variant(join(replace_line(9, lines[9][:-1] + b', "a": NaN, "b": -Infinity}')))
    numbers = {k: (int(val) if val.isdigit() and len(val) < 6 else val) for k, val in obj(10).items()}
    v["numbers instead of strings"] = Variant(join(replace_line(10, json.dumps(numbers, ensure_ascii=False))))
    nulls = {k: (val or None) for k, val in obj(10).items()}
    v["null for empty values"] = Variant(join(replace_line(10, json.dumps(nulls, ensure_ascii=False))))
    v["keys in another order"] = Variant(join([json.dumps(dict(reversed(list(obj(i).items()))), ensure_ascii=False)
                                               .encode() for i in range(n)]))
    missing = obj(11)
    del missing[h[1]]
    v["a needed key missing"] = Variant(join(replace_line(11, json.dumps(missing, ensure_ascii=False))), damaged={11})
    v["unknown extra keys"] = Variant(join(replace_line(11, json.dumps({**obj(11), "备注": "无"}, ensure_ascii=False))))
    v["object for a text value"] = Variant(join(replace_line(12, json.dumps({**obj(12), h[1]: {"a": 1}},
                                                                            ensure_ascii=False))), damaged={12})
    v["NUL inside a value"] = Variant(join(replace_line(13, json.dumps({k: val + "\u0000" if val else val
                                                                        for k, val in obj(13).items()}))))
    v["BOM at the start of a line"] = Variant(join(replace_line(14, codecs.BOM_UTF8 + lines[14])))
    v["zero-width space in the key value"] = Variant(join(replace_line(14, json.dumps(
        {**obj(14), h[0]: "\u200b" + rows[14][0]}, ensure_ascii=False))))
    v["lone surrogate escape"] = Variant(join(replace_line(15, lines[15][:-1] + b', "x": "\\ud800"}')))
    v["BOM inside a key"] = Variant(join(replace_line(15, json.dumps({("\ufeff" + k if i == 0 else k): val for i, (k, val)
                                                                      in enumerate(obj(15).items())},
                                                                     ensure_ascii=False))))
    v["padded keys"] = Variant(join(replace_line(15, json.dumps({f" {k} ": val for k, val in obj(15).items()},
                                                               ensure_ascii=False))))
    v["comment line"] = Variant(join(replace_line(16, "// exported by system X")), damaged={16})
    v["single quotes"] = Variant(join(replace_line(16, lines[16].replace(b'"', b"'"))), damaged={16})
    v["empty object"] = Variant(join(replace_line(16, "{}")), damaged={16})
    v["all values empty"] = Variant(join(replace_line(16, json.dumps(dict.fromkeys(h, ""), ensure_ascii=False))),
                                    damaged={16})
    v["raw tab inside a string"] = Variant(join(replace_line(17, lines[17].replace(b'": "', b'": "\t', 1))))
    v["a 5000-digit number"] = Variant(join(replace_line(17, lines[17][:-1] + b', "n": ' + b"9" * 5000 + b"}")),
                                       damaged={17})
    v["garbage after the object"] = Variant(join(replace_line(18, lines[18] + b" xyz")), damaged={18})
    v["two objects on one line"] = Variant(join(replace_line(18, lines[18] + lines[19])), damaged={18})
    shuffled = list(range(n))
    random.Random(3).shuffle(shuffled)
    v["reordered lines"] = Variant(join([lines[i] for i in shuffled]))
    v["every line twice"] = Variant(join(lines + lines))
    v["binary junk line"] = Variant(join(lines[:4] + [bytes(range(256)) * 3] + lines[4:]))
    v["ctrl-z at the end"] = Variant(join(lines) + b"\x1a")
    v["empty file"] = Variant(b"", rows=[])
    v["whitespace only"] = Variant(b" \n\t\n\r\n", rows=[])
    v["utf16 lone surrogate"] = Variant(codecs.BOM_UTF16_LE + jsonl_text(h, rows[:5]).encode("utf-16-le")
                                        + "\ud800".encode("utf-16-le", "surrogatepass")
                                        + jsonl_text(h, rows[5:]).encode("utf-16-le"), damaged={5})
    v["a CSV file by mistake"] = Variant(csv_bytes(h, rows, "utf-8"), damaged=set(range(n)))
    v["gzip-compressed export"] = Variant(gzip.compress(text.encode()), refused=True, rows=[])
    v["an Excel workbook by mistake"] = Variant(b"PK\x03\x04" + bytes(range(256)) * 40, refused=True, rows=[])
    return v


AGENCIES = sorted(FILES_BY_AGENCY)


def check_variant(export: Export, name: str, variant: Variant, path: Path, protector: Protector, work: Path,
                  jsonl: bool) -> list[str]:
    work.mkdir()
    path.write_bytes(variant.data)
    try:
        summary, keys, letters, repeated = run_file(path, export.agency, protector, work, jsonl)
    except Exception as exc:  # the point of the test: nothing may escape
        return [f"{name}: raised {type(exc).__name__}: {exc}"]
    finally:
        path.unlink()
        for file in work.iterdir():
            file.unlink()
    problems = []
    if not summary.balanced:
        problems.append(f"{name}: counts do not add up: {summary.line()}")
    if variant.refused:
        if not summary.refused or keys or letters:
            problems.append(f"{name}: expected a refusal that publishes nothing, got {summary.line()}")
        return problems
    if summary.refused:
        problems.append(f"{name}: refused unexpectedly: {summary.refused}")
    if repeated:   # a row the file repeats (or that re-reads as itself) is a duplicate, published once
        problems.append(f"{name}: {repeated} events published twice: {summary.line()}")
    present = set(range(len(export.rows))) if variant.rows is None else set(variant.rows)
    must = {export.rows[i][0] for i in (present & export.good) - variant.damaged}
    lost = must - keys
    if lost:
        problems.append(f"{name}: {len(lost)} valid rows around the bad ones were not published "
                        f"({summary.line()}; dead letters: {[d.message() for d in letters][:3]})")
    if summary.filtered:   # every row of these exports maps: a filtered row would be one dropped unseen
        problems.append(f"{name}: {summary.filtered} rows neither published nor dead-lettered: {summary.line()}")
    unpublished = {export.rows[i][0] for i in present & export.good & variant.damaged} - keys
    if len(letters) < len(unpublished):  # a damaged row is kept as a dead letter, never dropped
        problems.append(f"{name}: {len(unpublished)} damaged rows not published but only {len(letters)} dead "
                        f"letters: {summary.line()}")
    personal = [i for i, column in enumerate(export.header) if column.endswith(PERSONAL) and column != "节点名称"]
    values = {row[i] for row in export.rows for i in personal if len(row[i]) >= 2}
    for letter in letters:
        if letter.rule not in RULES:
            problems.append(f"{name}: dead letter with an undocumented rule {letter.rule}")
        if not letter.position.startswith(path.name) or not letter.sealed.startswith(b"jls1"):
            problems.append(f"{name}: dead letter without its file or its sealed original: {letter.position}")
        text = letter.header_bytes().decode("utf-8", "replace")
        leaked = [value for value in values if value in text]
        if leaked:
            problems.append(f"{name}: a dead letter's headers hold a value of the export ({letter.rule}): {leaked}")
    return problems


@pytest.mark.parametrize("agency", AGENCIES)
def test_malformed_csv_exports(agency: str, county: Path, protector: Protector, tmp_path: Path) -> None:
    export = load_export(county, agency, protector, tmp_path / "baseline")
    variants = csv_variants(export)
    assert len(variants) >= 60, len(variants)
    problems = []
    for n, (name, variant) in enumerate(variants.items()):
        problems += check_variant(export, name, variant, tmp_path / f"v{n}.csv", protector, tmp_path / f"run{n}",
                                  jsonl=False)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("agency", AGENCIES)
def test_malformed_json_lines_exports(agency: str, county: Path, protector: Protector, tmp_path: Path) -> None:
    export = load_export(county, agency, protector, tmp_path / "baseline")
    variants = jsonl_variants(export)
    assert len(variants) >= 60, len(variants)
    problems = []
    for n, (name, variant) in enumerate(variants.items()):
        problems += check_variant(export, name, variant, tmp_path / f"v{n}.jsonl", protector, tmp_path / f"run{n}",
                                  jsonl=True)
    assert not problems, "\n".join(problems)


def test_the_command_line_refuses_bad_files_and_publishes_the_good_one(county: Path, protector: Protector,
                                                                      tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hub.cli.main import cli

    export = load_export(county, "police", protector, tmp_path / "baseline")
    exports = tmp_path / "exports" / "police"
    exports.mkdir(parents=True)
    (exports / "a_good.csv").write_bytes(csv_bytes(export.header, export.rows, "utf-16-le", codecs.BOM_UTF16_LE, "\r"))
    (exports / "b_no_header.csv").write_bytes(csv_bytes(None, export.rows, "utf-8"))
    (exports / "c_nested.jsonl").write_bytes(jsonl_variants(export)["line nested 100000 deep"].data)
    (exports / "d_folder.csv").mkdir()                            # not a file: refused by name, the rest goes on
    (exports / "e_gone.csv").symlink_to(tmp_path / "moved-away.csv")
    (exports / "f_good_again.jsonl").write_bytes(jsonl_variants(export)["encoding gb18030"].data)
    pipe = exports / "g_pipe.csv"                                   # a named pipe: never opened (it could block)
    os.mkfifo(pipe)
    stop = threading.Event()

    def writer() -> None:   # should the connector open the pipe after all, it reads an empty file, never waits
        while not stop.is_set():
            open(pipe, "wb").close()

    feeding = threading.Thread(target=writer, daemon=True)
    feeding.start()
    env = {"JUSTLINK_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init"], env=env).exit_code == 0
    result = runner.invoke(cli, ["connector", "run", "police", "--source", str(tmp_path / "exports"),
                                 "--no-progress"], env=env, catch_exceptions=False)
    assert result.exit_code == 3, result.output
    assert f"a_good.csv: read {len(export.rows)} = published {len(export.good)}" in result.output
    assert "REFUSED b_no_header.csv: the first row looks like data" in result.output
    assert "c_nested.jsonl: read" in result.output and "json.too_deep" in result.output
    assert "REFUSED d_folder.csv: the source cannot be read (IsADirectoryError" in result.output
    assert "REFUSED e_gone.csv: the source cannot be read (FileNotFoundError" in result.output
    assert f"f_good_again.jsonl: read {len(export.rows)} = published 0 + " in result.output, \
        "the files after an unreadable one are read (the same records again: nothing new)"
    assert "REFUSED g_pipe.csv: the source cannot be read (OSError: not a regular file" in result.output
    again = runner.invoke(cli, ["connector", "run", "police", "--source", str(tmp_path / "exports"),
                                "--no-progress"], env=env, catch_exceptions=False)
    assert "published 0" in again.output and again.exit_code == 3, "a rerun neither crashes nor republishes"
    stop.set()
    os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))          # releases the writer waiting for a reader
    feeding.join()
