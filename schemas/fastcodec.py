"""Avro binary encoders and decoders compiled from a schema into plain Python.

fastavro resolves every union by validating the value against each branch, which costs
about a microsecond per nullable field — and our events have ~100 fields. Every union in
the JustLink contracts is ["null", X], so a compiled codec can branch on `is None` and
write straight into a bytearray. The output is byte-identical to fastavro's (tested for
every contract); schemas that use anything else fall back to fastavro.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


class Unsupported(Exception):
    pass


def _zigzag_bytes(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [_zigzag_bytes(i) for i in range(-64, 1024)]


def write_long(out: bytearray, n: int) -> None:
    if -64 <= n < 1024:
        out += _SMALL[n + 64]
        return
    n = (n << 1) ^ (n >> 63)
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos


def ts_millis(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return int(value)


class _Compiler:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.named: dict[str, Any] = {}
        self.consts: dict[str, Any] = {}
        self.counter = 0

    def var(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any, prefix: str = "c") -> str:
        name = self.var(prefix)
        self.consts[name] = value
        return name

    def resolve(self, t: Any) -> Any:
        if isinstance(t, str) and t.rsplit(".", 1)[-1] in self.named:
            return self.named[t.rsplit(".", 1)[-1]]
        if isinstance(t, dict) and t.get("type") in ("record", "enum", "fixed"):
            self.named[t["name"].rsplit(".", 1)[-1]] = t
        return t

    # -- encoder -------------------------------------------------------------------------------
    def enc(self, t: Any, v: str, ind: str) -> None:
        t = self.resolve(t)
        L = self.lines.append  # noqa: N806
        if isinstance(t, list):
            if len(t) != 2 or t[0] != "null":
                raise Unsupported(f"union {t}")
            L(f"{ind}if {v} is None:")
            L(f"{ind}    out.append(0)")
            L(f"{ind}else:")
            L(f"{ind}    out.append(2)")
            self.enc(t[1], v, ind + "    ")
            return
        kind = t["type"] if isinstance(t, dict) else t
        logical = t.get("logicalType") if isinstance(t, dict) else None
        if isinstance(kind, (dict, list)):
            return self.enc(kind, v, ind)
        if logical == "timestamp-millis":
            L(f"{ind}write_long(out, ts_millis({v}))")
        elif kind == "string":
            b = self.var("b")
            L(f"{ind}{b} = {v}.encode()")
            L(f"{ind}write_long(out, len({b})); out += {b}")
        elif kind == "bytes":
            L(f"{ind}write_long(out, len({v})); out += {v}")
        elif kind in ("int", "long"):
            L(f"{ind}write_long(out, {v})")
        elif kind == "boolean":
            L(f"{ind}out.append(1 if {v} else 0)")
        elif kind == "double":
            L(f"{ind}out += DOUBLE.pack({v})")
        elif kind == "float":
            L(f"{ind}out += FLOAT.pack({v})")
        elif kind == "null":
            pass
        elif kind == "enum":
            idx = self.const({s: _zigzag_bytes(i) for i, s in enumerate(t["symbols"])}, "e")
            L(f"{ind}out += {idx}[{v}]")
        elif kind == "record":
            for f in t["fields"]:
                fv = self.var("f")
                if "default" in f:
                    L(f"{ind}{fv} = {v}.get({f['name']!r}, {self.const(f['default'], 'd')})")
                else:
                    L(f"{ind}{fv} = {v}[{f['name']!r}]")
                self.enc(f["type"], fv, ind)
        elif kind == "array":
            item = self.var("i")
            L(f"{ind}if {v}:")
            L(f"{ind}    write_long(out, len({v}))")
            L(f"{ind}    for {item} in {v}:")
            self.enc(t["items"], item, ind + "        ")
            L(f"{ind}out.append(0)")
        elif kind == "map":
            k, val = self.var("k"), self.var("v")
            L(f"{ind}if {v}:")
            L(f"{ind}    write_long(out, len({v}))")
            L(f"{ind}    for {k}, {val} in {v}.items():")
            kb = self.var("b")
            L(f"{ind}        {kb} = {k}.encode(); write_long(out, len({kb})); out += {kb}")
            self.enc(t["values"], val, ind + "        ")
            L(f"{ind}out.append(0)")
        else:
            raise Unsupported(f"type {kind}")

    # -- decoder -------------------------------------------------------------------------------
    def dec(self, t: Any, target: str, ind: str) -> None:
        """Emit code that reads one value at `pos` into the expression `target`."""
        t = self.resolve(t)
        L = self.lines.append  # noqa: N806
        if isinstance(t, list):
            if len(t) != 2 or t[0] != "null":
                raise Unsupported(f"union {t}")
            L(f"{ind}if buf[pos] == 0:")
            L(f"{ind}    pos += 1; {target} = None")
            L(f"{ind}else:")
            L(f"{ind}    pos += 1")
            self.dec(t[1], target, ind + "    ")
            return
        kind = t["type"] if isinstance(t, dict) else t
        logical = t.get("logicalType") if isinstance(t, dict) else None
        if isinstance(kind, (dict, list)):
            return self.dec(kind, target, ind)
        if logical == "timestamp-millis":
            n = self.var("n")
            L(f"{ind}{n}, pos = read_long(buf, pos); {target} = EPOCH + timedelta(milliseconds={n})")
        elif kind in ("string", "bytes"):
            n = self.var("n")
            L(f"{ind}{n}, pos = read_long(buf, pos)")
            if kind == "string":
                L(f"{ind}{target} = str(buf[pos:pos + {n}], 'utf-8'); pos += {n}")
            else:
                L(f"{ind}{target} = bytes(buf[pos:pos + {n}]); pos += {n}")
        elif kind in ("int", "long"):
            L(f"{ind}{target}, pos = read_long(buf, pos)")
        elif kind == "boolean":
            L(f"{ind}{target} = buf[pos] == 1; pos += 1")
        elif kind == "double":
            L(f"{ind}{target} = DOUBLE.unpack_from(buf, pos)[0]; pos += 8")
        elif kind == "float":
            L(f"{ind}{target} = FLOAT.unpack_from(buf, pos)[0]; pos += 4")
        elif kind == "null":
            L(f"{ind}{target} = None")
        elif kind == "enum":
            syms = self.const(tuple(t["symbols"]), "s")
            n = self.var("n")
            L(f"{ind}{n}, pos = read_long(buf, pos); {target} = {syms}[{n}]")
        elif kind == "record":
            r = self.var("r")
            L(f"{ind}{r} = {{}}")
            for f in t["fields"]:
                self.dec(f["type"], f"{r}[{f['name']!r}]", ind)
            L(f"{ind}{target} = {r}")
        elif kind == "array":
            arr, n, j, item = self.var("a"), self.var("n"), self.var("j"), self.var("x")
            L(f"{ind}{arr} = []")
            L(f"{ind}{n}, pos = read_long(buf, pos)")
            L(f"{ind}while {n}:")
            L(f"{ind}    if {n} < 0:")
            L(f"{ind}        {n} = -{n}; _, pos = read_long(buf, pos)")
            L(f"{ind}    for {j} in range({n}):")
            self.dec(t["items"], item, ind + "        ")
            L(f"{ind}        {arr}.append({item})")
            L(f"{ind}    {n}, pos = read_long(buf, pos)")
            L(f"{ind}{target} = {arr}")
        elif kind == "map":
            m, n, j, k, val = self.var("m"), self.var("n"), self.var("j"), self.var("k"), self.var("v")
            L(f"{ind}{m} = {{}}")
            L(f"{ind}{n}, pos = read_long(buf, pos)")
            L(f"{ind}while {n}:")
            L(f"{ind}    if {n} < 0:")
            L(f"{ind}        {n} = -{n}; _, pos = read_long(buf, pos)")
            L(f"{ind}    for {j} in range({n}):")
            self.dec("string", k, ind + "        ")
            self.dec(t["values"], val, ind + "        ")
            L(f"{ind}        {m}[{k}] = {val}")
            L(f"{ind}    {n}, pos = read_long(buf, pos)")
            L(f"{ind}{target} = {m}")
        else:
            raise Unsupported(f"type {kind}")


def compile_codec(schema: dict[str, Any]):
    """(encode(record, out: bytearray) -> None, decode(buf, pos) -> (record, pos)) for an
    expanded schema; raises Unsupported for schemas outside the subset."""
    return compile_encoder(schema), compile_decoder(schema)


def compile_encoder(schema: dict[str, Any]):
    """encode(record, out: bytearray) -> None alone: a process that only writes (a connector) or only
    reads a type does not pay for compiling the other half (~10 ms of CPU per event type)."""
    enc = _Compiler()
    enc.lines.append("def encode(rec, out):")
    enc.enc(schema, "rec", "    ")
    return _define(enc, "encode")


def compile_decoder(schema: dict[str, Any]):
    """decode(buf, pos) -> (record, pos) alone."""
    dec = _Compiler()
    dec.counter = 100_000
    dec.lines.append("def decode(buf, pos):")
    dec.dec(schema, "result", "    ")
    dec.lines.append("    return result, pos")
    return _define(dec, "decode")


def _define(compiler: _Compiler, name: str):
    from datetime import timedelta

    env: dict[str, Any] = {"write_long": write_long, "read_long": read_long, "ts_millis": ts_millis,
                           "DOUBLE": _DOUBLE, "FLOAT": _FLOAT, "EPOCH": _EPOCH, "timedelta": timedelta}
    env.update(compiler.consts)
    exec(compile("\n".join(compiler.lines) + "\n", "<fastcodec>", "exec"), env)
    return env[name]


def field_count(schema: Any) -> int:
    """Leaf fields of a schema (nested records counted through), for choosing a decoder."""
    if isinstance(schema, list):
        return sum(field_count(b) for b in schema if b != "null")
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return sum(field_count(f["type"]) for f in schema["fields"])
        if kind == "array":
            return field_count(schema["items"])
        if isinstance(kind, (dict, list)):
            return field_count(kind)
    return 1
