"""Load every Avro contract in schemas/avro once, and keep it parsed.

Layout: `avro/common/*.avsc` holds shared named types (PartyRef, EventEnvelope, enums);
`avro/<agency>/<EventType>.avsc` holds one event type each. An event schema refers to
common types by name; `EventSchema.expanded` is the self-contained form (every named
type inlined at first use) that is registered, fingerprinted and checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

SCHEMA_DIR = Path(__file__).parent / "avro"
NAMESPACE = "org.justlink.events"
AGENCIES = ("court", "police", "civil_affairs", "justice")
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class SchemaError(ValueError):
    """A schema file is unreadable or invalid; the message names the file and field."""


@dataclass(frozen=True)
class EventSchema:
    event_type: str
    agency: str
    path: Path
    raw: dict[str, Any]
    expanded: dict[str, Any]
    parsed: Any = field(repr=False)

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}.{self.event_type}"


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def load_common(schema_dir: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """Shared named types by short name, as written in their files."""
    common: dict[str, dict[str, Any]] = {}
    for path in sorted((schema_dir / "common").glob("*.avsc")):
        raw = read_json(path)
        if _short(raw.get("name", "")) != path.stem:
            raise SchemaError(f"{path}: type name {raw.get('name')!r} must equal the file name {path.stem!r}")
        common[path.stem] = raw
    return common


def expand(raw: dict[str, Any], common: dict[str, dict[str, Any]], *, source: str) -> dict[str, Any]:
    """Inline every named common type at its first use, so the schema stands alone."""
    defined: set[str] = set()

    def walk(node: Any, where: str) -> Any:
        if isinstance(node, str):
            name = _short(node)
            if node in PRIMITIVES or name in defined:
                return node
            if name in common:
                defined.add(name)
                return walk(common[name], where)
            raise SchemaError(f"{source}: field {where!r} refers to unknown type {node!r}")
        if isinstance(node, list):
            return [walk(branch, where) for branch in node]
        if isinstance(node, dict):
            kind = node.get("type")
            out = dict(node)
            if kind in ("record", "error"):
                defined.add(_short(node["name"]))
                out["fields"] = [
                    {**fld, "type": walk(fld["type"], f"{where}.{fld['name']}" if where else fld["name"])}
                    for fld in node.get("fields", [])
                ]
            elif kind in ("enum", "fixed"):
                defined.add(_short(node["name"]))
            elif kind == "array":
                out["items"] = walk(node["items"], where + "[]")
            elif kind == "map":
                out["values"] = walk(node["values"], where + "{}")
            elif isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in PRIMITIVES):
                out["type"] = walk(kind, where)
            return out
        raise SchemaError(f"{source}: field {where!r} has an unreadable type {node!r}")

    return walk(raw, "")


def parse(expanded: dict[str, Any], *, source: str) -> Any:
    try:
        return fastavro.parse_schema(expanded)
    except Exception as exc:  # fastavro raises several types; say which file
        raise SchemaError(f"{source}: does not parse as Avro: {exc}") from None


def load_event_schema(path: Path, common: dict[str, dict[str, Any]]) -> EventSchema:
    raw = read_json(path)
    agency = path.parent.name
    if _short(raw.get("name", "")) != path.stem:
        raise SchemaError(f"{path}: record name {raw.get('name')!r} must equal the file name {path.stem!r}")
    expanded = expand(raw, common, source=str(path))
    return EventSchema(path.stem, agency, path, raw, expanded, parse(expanded, source=str(path)))


@cache
def load_all(schema_dir: Path = SCHEMA_DIR) -> dict[str, EventSchema]:
    """Every event schema by event type, parsed once per process."""
    common = load_common(schema_dir)
    schemas: dict[str, EventSchema] = {}
    for path in sorted(schema_dir.glob("*/*.avsc")):
        if path.parent.name == "common":
            continue
        schema = load_event_schema(path, common)
        if schema.event_type in schemas:
            raise SchemaError(f"{path}: event type {schema.event_type} is defined twice")
        schemas[schema.event_type] = schema
    return schemas


def get(event_type: str) -> EventSchema:
    try:
        return load_all()[event_type]
    except KeyError:
        raise SchemaError(f"unknown event type {event_type!r}") from None


def event_types(agency: str | None = None) -> list[str]:
    return [name for name, s in load_all().items() if agency is None or s.agency == agency]
