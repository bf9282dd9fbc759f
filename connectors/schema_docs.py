"""The schema reference an integrator reads instead of the .avsc files and the connectors' source
(`justlink schemas docs`, committed as docs/schemas.md).

For every event type: its fields with their Chinese names (schemas/names_zh.toml), type, pii class and
doc; every enum with its symbols (English), their Chinese names and the Chinese labels the built-in
connectors accept for them; the shared types (PartyRef, EventEnvelope, ...) once; and, per built-in
connector, which source column feeds which field.

The column -> field table is measured, not declared: each built-in connector maps rows of a generated
county's exports, then the same rows with one column's value replaced by another row's value of that
column; the fields whose values change are the ones that column feeds (and a column that changes the
event type selects it). So the table is true for the code as it is.
"""

from __future__ import annotations

import importlib
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from connectors.registry import CONNECTORS, get_connector
from connectors.sdk.column_fields import SELECTS_EVENT_TYPE, fields_fed, try_map
from connectors.sdk.connector import Connector
from connectors.sdk.errors import RULES, SourceRefused
from connectors.sdk.sources import SourceRecord
from schemas import loader
from schemas.names_zh import chinese_names

LABEL_MODULES = ("connectors.sdk.vocabulary", "connectors.sdk.mapping", "connectors.court.connector",
                 "connectors.police.connector", "connectors.civil_affairs.connector", "connectors.justice.connector")
ROWS_PER_FILE = 150
PII_MEANING = {
    "identifier": "encrypted; names, ID numbers, dates of birth, agency person ids",
    "contact": "encrypted; phones, addresses, locations",
    "sensitive": "encrypted; criminal records, domestic violence, health, free-text accounts",
    "basic": "plaintext, released only to callers allowed the class (e.g. gender)",
}
_CJK = re.compile(r"[\u4e00-\u9fff]")


# -- types ----------------------------------------------------------------------------------------------

def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def type_text(avro: Any) -> str:
    """An Avro type as a reader sees it: string, long (timestamp-millis), PartyRef[], enum DisputeType ..."""
    if isinstance(avro, str):
        return f"[{_short(avro)}](#{_short(avro).lower()})" if avro not in loader.PRIMITIVES else avro
    if isinstance(avro, list):
        branches = [type_text(b) for b in avro if b != "null"]
        return " \\| ".join(branches) + (" or null" if "null" in avro else "")
    kind = avro.get("type")
    if kind == "array":
        return f"array of {type_text(avro['items'])}"
    if kind == "map":
        return f"map of {type_text(avro['values'])}"
    if kind in ("record", "enum", "fixed"):
        return f"[{avro['name']}](#{_short(avro['name']).lower()})"
    logical = avro.get("logicalType")
    return f"{kind} ({logical})" if logical else str(kind)


def _named_inline(avro: Any) -> Iterator[dict[str, Any]]:
    """Named types defined inline in a field's type."""
    if isinstance(avro, list):
        for branch in avro:
            yield from _named_inline(branch)
    elif isinstance(avro, dict):
        if avro.get("type") in ("record", "enum"):
            yield avro
            for fld in avro.get("fields", []):
                yield from _named_inline(fld["type"])
        elif avro.get("type") == "array":
            yield from _named_inline(avro["items"])
        elif avro.get("type") == "map":
            yield from _named_inline(avro["values"])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_table(fields: list[dict[str, Any]]) -> list[str]:
    zh = chinese_names()
    lines = ["| field | 中文 | type | pii | doc |", "|---|---|---|---|---|"]
    for fld in fields:
        default = f" (default {fld['default']!r})" if "default" in fld and fld["default"] is not None else ""
        lines.append(f"| `{fld['name']}` | {zh.field(fld['name'])} | {type_text(fld['type'])} | {fld.get('pii', '')} | "
                     f"{_cell(fld.get('doc', ''))}{default} |")
    return lines


# -- Chinese labels ------------------------------------------------------------------------------------

def chinese_labels(enums: Mapping[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """enum name -> symbol -> the Chinese labels the built-in connectors map to it. A label table is
    any module-level dict of Chinese label -> symbol in the connectors; it belongs to the smallest enum
    whose symbols include all its values."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module_name in LABEL_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if not isinstance(value, dict) or not value:
                continue
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                continue
            labels = {k: v for k, v in value.items() if _CJK.search(k)}
            if not labels:
                continue
            fitting = [name for name, symbols in enums.items() if set(labels.values()) <= set(symbols)]
            if not fitting:
                continue
            enum = min(fitting, key=lambda name: len(enums[name]))
            for label, symbol in labels.items():
                found[enum][symbol].add(label)
    return {enum: {symbol: sorted(labels) for symbol, labels in by_symbol.items()} for enum, by_symbol in found.items()}


# -- column -> field, measured -------------------------------------------------------------------------

def measure_columns(connector: Connector, samples: Path) -> dict[str, dict[str, set[str]]]:
    """event type -> source column -> the fields it feeds (see the module doc); the pseudo-field
    `(selects the event type)` for a column whose value decides which event a row becomes."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for source in connector.sources(samples):
        try:
            records = [r for r in source.records() if isinstance(r, SourceRecord)][:ROWS_PER_FILE]
        except SourceRefused:
            continue
        values: dict[str, list[str]] = defaultdict(list)
        for record in records:
            for column, value in record.data.items():
                if value not in values[column]:
                    values[column].append(value)
        types_by_value: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for record in records:
            base = try_map(connector, record)
            if not base:
                continue
            for column, value in record.data.items():
                types_by_value[column][value].update(e.event_type for e in base)
            for column, value in record.data.items():
                fed = fields_fed(connector, record, base, column, [v for v in values[column] if v != value])
                for event_type, paths in (fed or {}).items():
                    if paths:
                        found[event_type][column].update(paths)
        # a required column whose few values each lead to one event type selects it (changing it alone
        # rarely maps: each event type needs columns of its own)
        for column, by_value in types_by_value.items():
            kinds = set().union(*by_value.values())
            if len(kinds) >= 2 and "" not in by_value and len(by_value) <= 12 \
                    and len(records) >= 3 * len(by_value) and all(len(t) == 1 for t in by_value.values()):
                for kind in kinds:
                    found[kind][column].add(SELECTS_EVENT_TYPE)
    return found


def _path_text(path: str) -> str:
    """`parties[].id_number` (证件号码)"""
    zh = chinese_names().field(path.rsplit(".", 1)[-1].removesuffix("[]"))
    return f"`{path}` ({zh})" if zh else f"`{path}`"


# -- the document --------------------------------------------------------------------------------------

def render(samples: Path | None = None) -> str:
    """The reference as Markdown; `samples` is a directory of exports in the generated county's layout
    (default: a small county generated for the purpose)."""
    if samples is None:
        from connectors.synthetic.generator import generate

        with tempfile.TemporaryDirectory(prefix="justlink-schema-docs-") as tmp:
            generate(Path(tmp), 1500, seed=2)
            return render(Path(tmp))
    schemas = loader.load_all()
    common = loader.load_common()
    named: dict[str, dict[str, Any]] = {name: raw for name, raw in common.items()}
    for schema in schemas.values():
        for fld in schema.raw["fields"]:
            for inline in _named_inline(fld["type"]):
                named.setdefault(_short(inline["name"]), inline)
    enums = {name: raw["symbols"] for name, raw in named.items() if raw.get("type") == "enum"}
    labels = chinese_labels(enums)
    mappings = {agency: measure_columns(get_connector(agency), samples) for agency in sorted(CONNECTORS)}

    out = ["# Event schemas", "",
           "Generated by `justlink schemas docs` from `schemas/avro/`, the Chinese names in "
           "`schemas/names_zh.toml` and the built-in connectors; do not edit "
           "(`make docs` or `justlink schemas docs --out docs/schemas.md` rewrites it, and a test fails when it "
           "is stale).", "",
           "Every event is one Avro record, published in the Confluent wire format on the agency's topic "
           "(`justlink.<agency>.events`). Fields tagged with a pii class exist only as ciphertext in every "
           "topic and table:", ""]
    out += [f"- `{cls}`: {meaning}" for cls, meaning in PII_MEANING.items()]
    out += ["", "A connector maps each source record to one or more of these events; the SDK fills the "
            "`envelope` and each party's `protection` (see [PartyRef](#partyref)).", "", "## Event types", ""]
    by_agency: dict[str, list[str]] = defaultdict(list)
    for name, schema in sorted(schemas.items(), key=lambda kv: (kv[1].agency, kv[0])):
        by_agency[schema.agency].append(name)
    for agency, names in by_agency.items():
        out.append(f"- **{agency}**: " + ", ".join(f"[{n}](#{n.lower()})" for n in names))
    for agency, names in by_agency.items():
        for name in names:
            schema = schemas[name]
            relpath = schema.path.relative_to(loader.SCHEMA_DIR.parent.parent).as_posix()
            out += ["", f"### {name}", "", f"Agency `{agency}` · file `{relpath}`", "",
                    schema.raw.get("doc", ""), ""]
            out += field_table(schema.raw["fields"])
            mapping = mappings.get(agency, {}).get(name)
            if mapping:
                out += ["", f"Built-in `{agency}` connector (`{CONNECTORS[agency]}`): source column → field", "",
                        "| source column | field |", "|---|---|"]
                for column, paths in sorted(mapping.items()):
                    out.append(f"| {column} | {', '.join(_path_text(p) for p in sorted(paths))} |")
    out += ["", "## Shared types", ""]
    for name, raw in sorted(named.items()):
        if raw.get("type") != "record":
            continue
        out += [f"### {name}", "", raw.get("doc", ""), ""]
        out += field_table(raw["fields"])
        out.append("")
    out += ["## Enums", "",
            "Symbols are the English values on the wire, each with its Chinese name (`schemas/names_zh.toml`); "
            "the labels are those the built-in connectors accept in exports (a connector of your own declares "
            "its own labels with `lookup`).", ""]
    for name, raw in sorted(named.items()):
        if raw.get("type") != "enum":
            continue
        out += [f"### {name}", "", raw.get("doc", ""), "",
                "| symbol (English) | 中文 | 中文 labels the built-in connectors accept |", "|---|---|---|"]
        for symbol in raw["symbols"]:
            out.append(f"| `{symbol}` | {chinese_names().symbol(name, symbol)} | "
                       f"{'、'.join(labels.get(name, {}).get(symbol, []))} |")
        out.append("")
    out += ["## Dead-letter rules", "",
            "A record that cannot become events is dead-lettered (`justlink connector dead-letters AGENCY`) with "
            "its file and line, the source column (and contract field), and one of these rules — never the value "
            "itself. A file refused as a whole names a `file.*` rule; the connector test kit's findings name the "
            "same rules and its own `kit.*` ones.", "", "| rule | meaning |", "|---|---|"]
    out += [f"| `{rule}` | {meaning} |" for rule, meaning in RULES.items()]
    return "\n".join(out).rstrip() + "\n"
