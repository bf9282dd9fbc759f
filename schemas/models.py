"""Pydantic models generated from the Avro contracts at import time.

The .avsc files are the single source of truth: every event type gets a model with the
same fields, types, enums, defaults and docs, so the Python types and the wire format
cannot drift. `models.get("CaseFiled")` returns the class; `validate(event_type, dict)`
returns the validated plain dict ready for protection and Avro encoding.
"""

from __future__ import annotations

import threading
from datetime import datetime
from types import GenericAlias
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from schemas import loader

_PRIMITIVE_TYPES: dict[str, Any] = {
    "string": str, "int": int, "long": int, "float": float, "double": float, "boolean": bool, "bytes": bytes,
    "null": type(None),
}


class ContractModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)


class _Builder:
    def __init__(self) -> None:
        self.named: dict[str, Any] = {}

    def type_of(self, avro: Any) -> Any:
        """The Python type of an Avro type, built at run time (hence `Literal.__getitem__` and
        `GenericAlias(list, ...)`: the same objects as `Literal[...]` and `list[...]`, which a type
        checker reads as static types)."""
        if isinstance(avro, list):
            branches = [self.type_of(b) for b in avro if b != "null"]
            inner = branches[0] if len(branches) == 1 else _union(branches)
            return Optional[inner] if "null" in avro else inner  # noqa: UP045 - runtime construction
        if isinstance(avro, str):
            if avro in _PRIMITIVE_TYPES:
                return _PRIMITIVE_TYPES[avro]
            return self.named[avro.rsplit(".", 1)[-1]]
        kind = avro["type"]
        if avro.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
            return datetime
        if kind == "record":
            return self.record(avro)
        if kind == "enum":
            literal = Literal.__getitem__(tuple(avro["symbols"]))
            self.named[avro["name"].rsplit(".", 1)[-1]] = literal
            return literal
        if kind == "array":
            return GenericAlias(list, (self.type_of(avro["items"]),))
        if kind == "map":
            return GenericAlias(dict, (str, self.type_of(avro["values"])))
        if isinstance(kind, (list, dict)):
            return self.type_of(kind)
        return _PRIMITIVE_TYPES[kind]

    def record(self, avro: dict[str, Any]) -> type[ContractModel]:
        name = avro["name"].rsplit(".", 1)[-1]
        if name in self.named:
            return self.named[name]
        fields: dict[str, Any] = {}
        for fld in avro["fields"]:
            py_type = self.type_of(fld["type"])
            extra = {"pii": fld["pii"]} if "pii" in fld else None
            default = fld.get("default", ...)
            if isinstance(default, list):
                fields[fld["name"]] = (py_type, Field(default_factory=list, description=fld.get("doc"),
                                                      json_schema_extra=extra))
            else:
                fields[fld["name"]] = (py_type, Field(default, description=fld.get("doc"), json_schema_extra=extra))
        model = create_model(name, __base__=ContractModel, __doc__=avro.get("doc"), **fields)
        self.named[name] = model
        return model


def _union(branches: list[Any]) -> Any:
    from typing import Union

    return Union[tuple(branches)]  # noqa: UP007 - runtime construction


_BUILDER = _Builder()  # shared, so a named type (PartyRef, an enum) is one class across event types
_BUILT: dict[str, type[ContractModel]] = {}
_BUILDING = threading.Lock()


def get(event_type: str) -> type[ContractModel]:
    """The model of one event type, built on first use (a process that validates two types builds two)."""
    model = _BUILT.get(event_type)
    if model is None:
        schemas = loader.load_all()
        if event_type not in schemas:
            raise loader.SchemaError(f"unknown event type {event_type!r}")
        with _BUILDING:
            model = _BUILT.get(event_type) or _BUILDER.record(schemas[event_type].expanded)
            _BUILT[event_type] = model
    return model


def all_models() -> dict[str, type[ContractModel]]:
    return {name: get(name) for name in loader.load_all()}


def validate(event_type: str, record: dict[str, Any]) -> dict[str, Any]:
    """Validate a record against its contract; pydantic.ValidationError names the field."""
    return get(event_type).model_validate(record).model_dump()
