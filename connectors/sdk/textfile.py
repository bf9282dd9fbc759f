"""An export file as numbered lines of text, whatever the agency's system wrote.

- Encodings: UTF-8, UTF-16 and UTF-32 (either byte order), with or without a byte-order mark;
  GB18030 (and GBK, its subset). The BOM is believed only when the text agrees with it: a UTF-8 BOM
  in front of GB18030 text (Excel-style tools do this) is read as GB18030.
- Mixed rows: each line is decoded on its own. A line that is not valid in the file's encoding but
  reads cleanly as the other 8-bit encoding (UTF-8 <-> GB18030) is taken in that one; a line that is
  valid in neither comes out with `text=None` and the reason, for a dead letter.
- Line endings: LF, CRLF and CR alone, mixed freely.
- Invisible characters (BOMs in the middle of a file, zero-width and bidi marks, C0/C1 control
  characters other than tab, lone surrogates from a JSON escape) are removed from the text: they are never data, and a record must be the
  same record whether or not a tool sprinkled them in.
- Bounds: a line longer than MAX_LINE_BYTES is not decoded (it comes out as an error and the reader
  skips to the next line ending), so no input can exhaust memory.
- Resume tokens ("<line>@<offset>@<hash of the bytes before it>") notice a file that was replaced or
  rewritten since: a resumed read whose prefix no longer matches starts again from the top (the
  records read again count as duplicates, they are not published twice).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINE_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
SNIFF_BYTES = 64 * 1024

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDTH = {"utf-8": 1, "gb18030": 1, "utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}
_OTHER_8BIT = {"utf-8": "gb18030", "gb18030": "utf-8"}
_LABEL = {"utf-8": "UTF-8", "gb18030": "GB18030", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE",
          "utf-32-le": "UTF-32LE", "utf-32-be": "UTF-32BE"}
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                        "\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb]")   # (lone surrogates too)
_NEWLINE_8BIT = re.compile(rb"\r\n|\n|\r")


@dataclass(frozen=True, slots=True)
class Encoding:
    codec: str          # a Python codec name: utf-8, gb18030, utf-16-le, utf-16-be, utf-32-le, utf-32-be
    bom: bytes = b""    # the byte-order mark at the start of the file, skipped when reading
    note: str = ""      # what the sniffer noticed, e.g. a BOM that the text contradicts

    @property
    def width(self) -> int:
        return _WIDTH[self.codec]

    @property
    def label(self) -> str:
        return _LABEL[self.codec] + (" with BOM" if self.bom and not self.note else "")

    @property
    def python_name(self) -> str:
        """The name `open(..., encoding=...)` takes for a file in this encoding."""
        if self.codec == "utf-8" and self.bom == codecs.BOM_UTF8:
            return "utf-8-sig"
        if self.bom and self.codec.startswith("utf-"):
            return self.codec.rsplit("-", 1)[0]          # utf-16 / utf-32 read the BOM themselves
        return self.codec


def looks_like_gb18030(data: bytes) -> bool:
    """True when 8-bit text is GB18030 rather than UTF-8 with some bad bytes: GB18030 read as UTF-8 is
    almost all errors, UTF-8 with a damaged line almost none."""
    try:
        data.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return False        # a multi-byte character cut at the end of the sample
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return good <= 4 * bad


def _wide_without_bom(head: bytes) -> str | None:
    """UTF-16/32 without a BOM, told by where the zero bytes sit (CSV text is mostly ASCII or BMP)."""
    usable = len(head) - len(head) % 4
    if usable < 8 or head.count(0) < usable // 4:
        return None
    zeros = [sum(1 for i in range(k, usable, 4) if head[i] == 0) for k in range(4)]
    units = usable // 4
    if zeros[2] >= 0.9 * units and zeros[3] >= 0.9 * units:
        return "utf-32-le"
    if zeros[0] >= 0.9 * units and zeros[1] >= 0.9 * units:
        return "utf-32-be"
    odd, even = zeros[1] + zeros[3], zeros[0] + zeros[2]
    if odd >= 0.3 * 2 * units and even <= 0.05 * 2 * units:
        return "utf-16-le"
    if even >= 0.3 * 2 * units and odd <= 0.05 * 2 * units:
        return "utf-16-be"
    return None


def detect_encoding(head: bytes) -> Encoding:
    """The encoding of a file from its first bytes."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            if codec == "utf-8" and looks_like_gb18030(head[len(bom):]):
                return Encoding("gb18030", bom, "a UTF-8 byte-order mark on GB18030 text")
            if codec == "utf-16-le" and _wide_without_bom(head[len(bom):]) == "utf-32-le":
                continue   # FF FE 00 00 is the UTF-32LE mark, tried first; this is defensive
            return Encoding(codec, bom)
    wide = _wide_without_bom(head)
    if wide is not None:
        return Encoding(wide)
    return Encoding("gb18030" if looks_like_gb18030(head) else "utf-8")


def clean_text(text: str) -> str:
    """The text without invisible characters (see the module doc)."""
    return _INVISIBLE.sub("", text) if _INVISIBLE.search(text) else text


@dataclass(slots=True)
class Line:
    number: int             # 1-based physical line number
    start: int              # byte offset of its first byte
    end: int                # byte offset after its line ending
    raw: bytes              # its bytes without the line ending (at most MAX_LINE_BYTES)
    text: str | None        # decoded and cleaned; None when it could not be decoded
    error: str = ""         # why text is None
    terminated: bool = True  # False for a last line without a line ending
    codec: str = ""          # the codec it was decoded with (differs from the file's for mixed rows)
    checkpoint: str = ""     # the resume token after this line


@dataclass(frozen=True, slots=True)
class ResumePoint:
    number: int             # the last line already read
    offset: int             # byte offset after it
    digest: str             # hash of the bytes before `offset`

    def token(self) -> str:
        return f"{self.number}@{self.offset}@{self.digest}"


class TextFile:
    """Lines of one export file (see the module doc)."""

    def __init__(self, path: str | Path, encoding: Encoding | str | None = None) -> None:
        self.path = Path(path)
        with self.path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if encoding is None:
            self.encoding = detect_encoding(head)
        elif isinstance(encoding, Encoding):
            self.encoding = encoding
        else:
            self.encoding = _named(encoding, head)

    def size(self) -> int:
        return self.path.stat().st_size

    # -- resuming ------------------------------------------------------------------------------------
    def resume_point(self, token: str | None) -> tuple[ResumePoint | None, str]:
        """Where to continue after `token`, or None (from the top) with the reason why not."""
        if not token:
            return None, ""
        parts = token.split("@")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None, "the checkpoint is from an older version of the connector"
        number, offset, digest = int(parts[0]), int(parts[1]), parts[2]
        if offset > self.size():
            return None, "the file is shorter than at the last run (replaced or truncated)"
        hasher = hashlib.blake2b(digest_size=16)
        with self.path.open("rb") as fh:
            left = offset
            while left:
                chunk = fh.read(min(CHUNK_BYTES, left))
                if not chunk:
                    break
                hasher.update(chunk)
                left -= len(chunk)
        if hasher.hexdigest() != digest:
            return None, "the file changed before the checkpoint (re-exported or edited)"
        return ResumePoint(number, offset, digest), ""

    # -- reading -------------------------------------------------------------------------------------
    def reader(self, after: ResumePoint | None = None) -> LineReader:
        """A pass over the lines after `after` (from the top when None)."""
        return LineReader(self, after)


class LineReader:
    """One pass over a TextFile; each line carries the resume token after it."""

    def __init__(self, file: TextFile, after: ResumePoint | None = None) -> None:
        self.file = file
        self.encoding = file.encoding
        self._hasher = hashlib.blake2b(digest_size=16)
        self._start = after.offset if after else 0
        self._number = after.number if after else 0
        if after is not None:
            with file.path.open("rb") as fh:
                left = after.offset
                while left:
                    chunk = fh.read(min(CHUNK_BYTES, left))
                    if not chunk:
                        break
                    self._hasher.update(chunk)
                    left -= len(chunk)

    def lines(self) -> Iterator[Line]:
        encoding = self.encoding
        width = encoding.width
        pattern = _NEWLINE_8BIT if width == 1 else _wide_newlines(encoding.codec)
        number = self._number
        offset = self._start
        hasher = self._hasher
        with self.file.path.open("rb") as fh:
            if offset:
                fh.seek(offset)
            elif encoding.bom:
                bom = fh.read(len(encoding.bom))
                hasher.update(bom)
                offset = len(bom)
            buffer = b""
            skipping = False          # inside a line longer than MAX_LINE_BYTES
            long_start = 0
            long_head = b""
            eof = False
            while True:
                if not eof:
                    chunk = fh.read(CHUNK_BYTES)
                    if chunk:
                        buffer += chunk
                    else:
                        eof = True
                pos = 0
                while True:
                    match = pattern.search(buffer, pos)
                    while match is not None and match.start() % width:
                        match = pattern.search(buffer, match.start() + 1)
                    if match is None:
                        break
                    if not eof and match.end() == len(buffer) and buffer[match.start():match.end()] in (
                            b"\r", "\r".encode(encoding.codec)):
                        break                     # a CR at the end of the buffer may be half of a CRLF
                    raw = buffer[pos:match.start()]
                    line_bytes = buffer[pos:match.end()]
                    hasher.update(line_bytes)
                    number += 1
                    end = offset + len(line_bytes)
                    if skipping:
                        line = Line(number, long_start, end, long_head, None,
                                    f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB")
                        skipping = False
                    else:
                        line = self._decode(number, offset, end, raw, True)
                    offset = end
                    pos = match.end()
                    line.checkpoint = f"{number}@{end}@{hasher.hexdigest()}"
                    yield line
                buffer = buffer[pos:]
                if len(buffer) > MAX_LINE_BYTES:
                    if not skipping:
                        skipping, long_start, long_head = True, offset, buffer[:1024 * 1024]
                    keep = buffer[-8:]    # a line ending may straddle chunks
                    hasher.update(buffer[:-8])
                    offset += len(buffer) - 8
                    buffer = keep
                if eof:
                    break
            if buffer or skipping:
                hasher.update(buffer)
                number += 1
                end = offset + len(buffer)
                if skipping:
                    line = Line(number, long_start, end, long_head, None,
                                f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB", terminated=False)
                else:
                    line = self._decode(number, offset, end, buffer, False)
                line.checkpoint = f"{number}@{end}@{hasher.hexdigest()}"
                yield line

    def _decode(self, number: int, start: int, end: int, raw: bytes, terminated: bool) -> Line:
        codec = self.encoding.codec
        if codec == "gb18030":
            # a UTF-8 row in a GB18030 file would often decode as GB18030 too, as nonsense; valid UTF-8
            # with Chinese in it is never GB18030 by accident, so it is tried first
            try:
                return Line(number, start, end, raw, clean_text(raw.decode("utf-8")), "", terminated, "utf-8")
            except UnicodeDecodeError:
                pass
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            other = _OTHER_8BIT.get(codec)
            if other is not None and (other == "utf-8" or looks_like_gb18030(raw)):
                try:
                    return Line(number, start, end, raw, clean_text(raw.decode(other)), "", terminated, other)
                except UnicodeDecodeError:
                    pass
            where = (f"byte {exc.start + 1}" if exc.end - exc.start == 1 else f"bytes {exc.start + 1}-{exc.end}") \
                + " of the line"
            also = f" nor {_LABEL[other]}" if other else ""
            return Line(number, start, end, raw, None,
                        f"{where} {'is' if exc.end - exc.start == 1 else 'are'} not valid {_LABEL[codec]} "
                        f"(the file's encoding){also}",
                        terminated, codec)
        return Line(number, start, end, raw, clean_text(text), "", terminated, codec)


def _named(name: str, head: bytes) -> Encoding:
    """An encoding given by name (`utf-8-sig`, `gbk`, `utf-16`, ...)."""
    key = codecs.lookup(name).name
    if key in ("gbk", "gb2312", "gb18030", "cp936"):
        return Encoding("gb18030")
    if key in ("utf-8-sig", "utf-8"):
        return Encoding("utf-8", codecs.BOM_UTF8 if head.startswith(codecs.BOM_UTF8) else b"")
    if key in ("utf-16", "utf-32"):
        detected = detect_encoding(head)
        if detected.codec.startswith(key):
            return detected
        return Encoding(f"{key}-le")
    if key in _WIDTH:
        bom = next((b for b, c in _BOMS if c == key and head.startswith(b)), b"")
        return Encoding(key, bom)
    raise ValueError(f"unsupported export encoding {name!r}; expected UTF-8, UTF-16, UTF-32, GB18030 or GBK")


_WIDE_PATTERNS: dict[str, re.Pattern[bytes]] = {}


def _wide_newlines(codec: str) -> re.Pattern[bytes]:
    pattern = _WIDE_PATTERNS.get(codec)
    if pattern is None:
        cr, lf = "\r".encode(codec), "\n".encode(codec)
        pattern = _WIDE_PATTERNS[codec] = re.compile(re.escape(cr + lf) + b"|" + re.escape(lf) + b"|"
                                                      + re.escape(cr))
    return pattern
