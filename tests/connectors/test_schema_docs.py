"""The schema reference (`justlink schemas docs`, committed as docs/schemas.md) is complete and current:
every event type with its fields, types and pii classes, every enum symbol with the Chinese labels the
connectors accept, each built-in connector's source column -> field table, the dead-letter rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.schema_docs import render
from connectors.sdk.errors import RULES
from schemas import loader

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "schemas.md"


@pytest.fixture(scope="module")
def text() -> str:
    return render()


def test_the_committed_reference_is_current(text: str) -> None:
    assert COMMITTED.read_text(encoding="utf-8") == text, \
        "docs/schemas.md is stale: run `justlink schemas docs --out docs/schemas.md` (or `make docs`)"


def test_every_event_type_field_pii_class_and_enum_symbol_is_there(text: str) -> None:
    for name, schema in loader.load_all().items():
        section = text.split(f"\n### {name}\n", 1)[1].split("\n### ", 1)[0]
        for fld in schema.raw["fields"]:
            row = next(line for line in section.splitlines() if line.startswith(f"| `{fld['name']}` |"))
            assert fld.get("pii", "") in row and (fld.get("doc") or "")[:20] in row.replace("\\|", "|")
    for raw in loader.load_common().values():
        for symbol in raw.get("symbols", []):
            assert f"| `{symbol}` |" in text
    assert re.search(r"\| `marriage_family` \| .*婚姻家庭", text)
    assert re.search(r"\| `domestic_violence` \| 家庭暴力 \|", text)
    for rule in RULES:
        assert f"| `{rule}` |" in text


def test_the_connectors_column_tables_are_measured_from_the_code(text: str) -> None:
    incident = text.split("\n### IncidentReported\n", 1)[1].split("\n### ", 1)[0]
    assert "| 警情类别 | `category` (警情类别) |" in incident
    assert re.search(r"\| 涉案人员1证件号码 \| .*`parties\[\]\.id_number`", incident)
    assert "| 环节 | `(selects the event type)` |" in incident
    mediation = text.split("\n### MediationCaseOpened\n", 1)[1].split("\n### ", 1)[0]
    assert re.search(r"\| 当事人1身份证号 \| .*`parties\[\]\.id_number`", mediation)


def test_every_field_and_enum_symbol_has_its_chinese_name(text: str) -> None:
    """The reference is in Chinese and English: every field of every event and shared type, and every enum
    symbol, has a Chinese name (schemas/names_zh.toml), and the file names nothing that does not exist."""
    from connectors.schema_docs import _named_inline, _short
    from schemas.names_zh import chinese_names

    zh = chinese_names()
    named = dict(loader.load_common())
    fields: set[str] = set()
    for schema in loader.load_all().values():
        for fld in schema.raw["fields"]:
            fields.add(fld["name"])
            for inline in _named_inline(fld["type"]):
                named.setdefault(_short(inline["name"]), inline)
    symbols = {name: raw["symbols"] for name, raw in named.items() if raw.get("type") == "enum"}
    fields |= {fld["name"] for raw in named.values() if raw.get("type") == "record" for fld in raw["fields"]}
    assert sorted(f for f in fields if not zh.field(f)) == [], \
        "fields without a Chinese name: add them to schemas/names_zh.toml, then `justlink schemas docs --out docs/schemas.md`"
    assert sorted(set(zh.fields) - fields) == [], "Chinese names of fields that do not exist"
    missing = [f"{enum}.{s}" for enum, syms in symbols.items() for s in syms if not zh.symbol(enum, s)]
    assert missing == [], "enum symbols without a Chinese name: add them to schemas/names_zh.toml ([symbols.<Enum>])"
    stale = [f"{enum}.{s}" for enum, syms in zh.symbols.items() for s in syms if s not in symbols.get(enum, [])]
    assert stale == [], "Chinese names of symbols that do not exist"
    assert "| `mediation_case_number` | 调解案件编号 | string |" in text
    assert "| `husband` | 男方 |" in text and "| `uscc` | 统一社会信用代码 |" in text
    assert re.search(r"\| 当事人1身份证号 \| `parties\[\]\.id_number` \(证件号码\)", text)
