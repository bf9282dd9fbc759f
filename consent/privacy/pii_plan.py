"""Compile an Avro schema's ``pii`` tags into a plan: which fields to encrypt, which to keep
(``basic``), and where the party records (PartyRef) are. Compiled once per schema and cached.

Accepted shapes: a pii-tagged field of class identifier / contact / sensitive must be ``string`` or
``["null", "string"]``; ``basic`` may be any type. Records, nullable records and arrays of records
are walked. Named types may be defined inline anywhere in the schema, or passed in ``named_types``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROTECTED_CLASSES = frozenset({"identifier", "contact", "sensitive"})
FIELD_CLASSES = PROTECTED_CLASSES | {"basic"}
PARTY_RECORD = "PartyRef"
PROTECTION_FIELD = "protection"

PROTECT, BASIC, RECORD, ARRAY = "protect", "basic", "record", "array"
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class SchemaError(ValueError):
    """The schema's pii tags cannot be applied; names the record and field."""


@dataclass(slots=True)
class Step:
    name: str
    kind: str  # PROTECT | BASIC | RECORD | ARRAY
    pii_class: str = ""  # PROTECT and BASIC steps: the field's class
    plan: RecordPlan | None = None  # RECORD and ARRAY steps: the plan of the nested record

    @property
    def nested(self) -> RecordPlan:
        """The nested record's plan of a RECORD or ARRAY step."""
        if self.plan is None:
            raise TypeError(f"field {self.name!r} ({self.kind}) has no nested record")
        return self.plan


@dataclass(slots=True)
class RecordPlan:
    name: str
    is_party: bool = False
    steps: list[Step] = field(default_factory=list)


class _Compiler:
    def __init__(self, named_types: Mapping[str, Any] | None) -> None:
        self.types: dict[str, Any] = {}
        for full_name, definition in (named_types or {}).items():
            self._remember(definition, full_name)
        self.plans: dict[str, RecordPlan] = {}

    def _remember(self, definition: Any, full_name: str | None = None) -> None:
        if not isinstance(definition, dict) or "name" not in definition:
            return
        name = definition["name"]
        namespace = definition.get("namespace")
        full = full_name or (f"{namespace}.{name}" if namespace and "." not in name else name)
        self.types[full] = definition
        self.types.setdefault(full.rsplit(".", 1)[-1], definition)

    def resolve(self, schema_type: Any, where: str) -> Any:
        if isinstance(schema_type, str) and schema_type not in _PRIMITIVES:
            if schema_type not in self.types:
                short = schema_type.rsplit(".", 1)[-1]
                if short not in self.types:
                    raise SchemaError(f"{where}: named type {schema_type!r} is not defined in the schema")
                return self.types[short]
            return self.types[schema_type]
        if isinstance(schema_type, dict) and schema_type.get("type") in ("record", "error", "enum", "fixed"):
            self._remember(schema_type)
        return schema_type

    def record(self, schema: dict) -> RecordPlan:
        name = schema.get("name", "?")
        if name in self.plans:
            return self.plans[name]  # recursive or repeated type: the same plan object
        field_names = {f.get("name") for f in schema.get("fields", [])}
        plan = RecordPlan(name, is_party=name.rsplit(".", 1)[-1] == PARTY_RECORD or PROTECTION_FIELD in field_names)
        self.plans[name] = plan
        for avro_field in schema.get("fields", []):
            step = self.field(name, avro_field)
            if step is not None:
                plan.steps.append(step)
        return plan

    def field(self, record_name: str, avro_field: dict) -> Step | None:
        name = avro_field["name"]
        where = f"record {record_name} field {name}"
        pii = avro_field.get("pii")
        if name == PROTECTION_FIELD and pii is None:
            return None  # filled by the Protector, never encrypted
        branches = avro_field["type"] if isinstance(avro_field["type"], list) else [avro_field["type"]]
        resolved = [self.resolve(branch, where) for branch in branches]
        non_null = [b for b in resolved if b != "null" and not (isinstance(b, dict) and b.get("type") == "null")]
        if pii is not None:
            if pii not in FIELD_CLASSES:
                raise SchemaError(f"{where}: pii class {pii!r} is not one of {sorted(FIELD_CLASSES)}")
            if pii == "basic":
                return Step(name, BASIC, "basic")
            if non_null != ["string"] and non_null != [{"type": "string"}]:
                raise SchemaError(
                    f"{where}: pii {pii!r} fields are encrypted to a token string, so the type must be "
                    f'"string" or ["null", "string"], got {avro_field["type"]!r}'
                )
            return Step(name, PROTECT, pii)
        records = [b for b in non_null if isinstance(b, dict) and b.get("type") in ("record", "error")]
        arrays = [b for b in non_null if isinstance(b, dict) and b.get("type") == "array"]
        maps = [b for b in non_null if isinstance(b, dict) and b.get("type") == "map"]
        candidates: list[Step] = []
        for record in records:
            plan = self.record(record)
            if self._plan_has_pii(plan):
                candidates.append(Step(name, RECORD, plan=plan))
        for array in arrays:
            items = self.resolve(array["items"], where)
            if isinstance(items, dict) and items.get("type") in ("record", "error"):
                plan = self.record(items)
                if self._plan_has_pii(plan):
                    candidates.append(Step(name, ARRAY, plan=plan))
        for avro_map in maps:
            values = self.resolve(avro_map["values"], where)
            if isinstance(values, dict) and values.get("type") in ("record", "error"):
                if self._plan_has_pii(self.record(values)):
                    raise SchemaError(f"{where}: maps of records with pii fields are not supported")
        if len(candidates) > 1:
            raise SchemaError(f"{where}: a union of several records with pii fields is not supported")
        return candidates[0] if candidates else None

    def _plan_has_pii(self, plan: RecordPlan, seen: set[str] | None = None) -> bool:
        seen = seen or set()
        if plan.name in seen:
            return False
        seen.add(plan.name)
        return plan.is_party or any(
            step.kind in (PROTECT, BASIC) or (step.plan is not None and self._plan_has_pii(step.plan, seen))
            for step in plan.steps
        )


_cache: dict[int, tuple[Any, Any, RecordPlan]] = {}


def compile_plan(schema: dict, named_types: Mapping[str, Any] | None = None) -> RecordPlan:
    """The plan of a record schema (parsed Avro JSON). Cached per schema object."""
    cached = _cache.get(id(schema))
    if cached is not None and cached[0] is schema and cached[1] is named_types:
        return cached[2]
    if not isinstance(schema, dict) or schema.get("type") not in ("record", "error"):
        raise SchemaError("expected a record schema (parsed Avro JSON)")
    plan = _Compiler(named_types).record(schema)
    if len(_cache) > 1024:
        _cache.clear()
    _cache[id(schema)] = (schema, named_types, plan)
    return plan
