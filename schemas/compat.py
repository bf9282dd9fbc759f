"""Avro schema-resolution compatibility: can a reader schema read what a writer wrote?

BACKWARD compatibility of a new schema = the new schema (reader) reads data written with
the old one (writer). BACKWARD_TRANSITIVE = against every earlier version. The rules are
the Avro specification's "Schema Resolution" section.
"""

from __future__ import annotations

from typing import Any

PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def _kind(t: Any) -> str:
    if isinstance(t, list):
        return "union"
    if isinstance(t, dict):
        return t["type"] if isinstance(t["type"], str) else _kind(t["type"])
    return t


def _name(t: Any) -> str | None:
    return t.get("name", "").rsplit(".", 1)[-1] if isinstance(t, dict) and "name" in t else None


class _Resolver:
    """Named types may be defined once and referred to by name later: remember them."""

    def __init__(self) -> None:
        self.reader_named: dict[str, Any] = {}
        self.writer_named: dict[str, Any] = {}

    def deref(self, t: Any, named: dict[str, Any]) -> Any:
        if isinstance(t, dict) and isinstance(t.get("type"), (dict, list)):
            return self.deref(t["type"], named)
        name = _name(t)
        if name:
            named.setdefault(name, t)
        if isinstance(t, str) and t.rsplit(".", 1)[-1] in named:
            return named[t.rsplit(".", 1)[-1]]
        return t

    def problems(self, reader: Any, writer: Any, where: str) -> list[str]:
        reader = self.deref(reader, self.reader_named)
        writer = self.deref(writer, self.writer_named)
        rk, wk = _kind(reader), _kind(writer)
        if wk == "union":
            out: list[str] = []
            for branch in writer:
                out += self.problems(reader, branch, where)
            return out
        if rk == "union":
            for branch in reader:
                b = self.deref(branch, self.reader_named)
                if _kind(b) == wk and (wk not in ("record", "enum", "fixed") or _name(b) == _name(writer)):
                    return self.problems(b, writer, where)
            for branch in reader:
                if not self.problems(branch, writer, where):
                    return []
            return [f"{where}: writer type {wk} is in none of the reader's union branches"]
        if rk != wk:
            if wk in PROMOTIONS and rk in PROMOTIONS[wk]:
                return []
            return [f"{where}: type changed from {wk} to {rk}"]
        if rk == "record":
            return self._record(reader, writer, where)
        if rk == "enum":
            missing = set(writer["symbols"]) - set(reader["symbols"])
            if missing and "default" not in reader:
                return [f"{where}: enum {_name(reader)} lost symbols {sorted(missing)} and has no default"]
            return []
        if rk == "array":
            return self.problems(reader["items"], writer["items"], where + "[]")
        if rk == "map":
            return self.problems(reader["values"], writer["values"], where + "{}")
        if rk == "fixed" and reader.get("size") != writer.get("size"):
            return [f"{where}: fixed size changed"]
        return []

    def _record(self, reader: dict, writer: dict, where: str) -> list[str]:
        out: list[str] = []
        writer_fields = {f["name"]: f for f in writer["fields"]}
        for f in writer["fields"]:
            for alias in f.get("aliases", []):
                writer_fields.setdefault(alias, f)
        for rf in reader["fields"]:
            path = f"{where}.{rf['name']}" if where else rf["name"]
            wf = writer_fields.get(rf["name"]) or next(
                (writer_fields[a] for a in rf.get("aliases", []) if a in writer_fields), None)
            if wf is None:
                if "default" not in rf:
                    out.append(f"{path}: new field without a default (old data cannot be read)")
                continue
            out += self.problems(rf["type"], wf["type"], path)
        return out


def backward_problems(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """Why `new` cannot read data written with `old` ([] when it can)."""
    return _Resolver().problems(new, old, "")
