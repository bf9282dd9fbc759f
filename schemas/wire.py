"""The wire format: Confluent framing around an Avro body.

    byte 0     magic 0
    bytes 1-4  schema id, big-endian (ids from the schema registry)
    bytes 5-   Avro binary body (fastavro schemaless)

Schemas are parsed once; a record written with an older registered version is read
into the current schema by Avro schema resolution.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro

from schemas import loader
from schemas.registry import SchemaRegistry, default_registry

MAGIC = 0
_HEADER = struct.Struct(">bI")


class WireFormatError(ValueError):
    pass


class AvroCodec:
    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        self._writers: dict[str, tuple[int, Any]] = {}
        self._readers: dict[int, tuple[str, Any, Any]] = {}

    def writer(self, event_type: str) -> tuple[int, Any]:
        """(schema id, parsed schema) the current code writes `event_type` with."""
        cached = self._writers.get(event_type)
        if cached is None:
            schema = loader.get(event_type)
            registered = self.registry.lookup(schema.full_name, schema.expanded)
            if registered is None:
                raise loader.SchemaError(
                    f"{schema.path}: schema {event_type} changed but is not registered; "
                    "run `justlink schemas register` (it checks compatibility) and commit schemas/registry.json")
            cached = self._writers[event_type] = (registered.schema_id, schema.parsed)
        return cached

    def encode(self, event_type: str, record: dict[str, Any]) -> bytes:
        schema_id, parsed = self.writer(event_type)
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, schema_id))
        fastavro.schemaless_writer(buf, parsed, record)
        return buf.getvalue()

    def schema_id_of(self, data: bytes) -> int:
        if len(data) < 5 or data[0] != MAGIC:
            raise WireFormatError("not a JustLink/Confluent wire-format record (bad magic byte or too short)")
        return _HEADER.unpack_from(data)[1]

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(event type, record) of a wire-format message."""
        schema_id = self.schema_id_of(data)
        reader = self._readers.get(schema_id)
        if reader is None:
            registered = self.registry.by_id(schema_id)
            event_type = registered.subject.rsplit(".", 1)[-1]
            current = loader.get(event_type)
            writer_parsed = fastavro.parse_schema(registered.schema)
            same = self.registry.lookup(current.full_name, current.expanded) is registered
            reader = self._readers[schema_id] = (event_type, writer_parsed, None if same else current.parsed)
        event_type, writer_parsed, reader_parsed = reader
        record = fastavro.schemaless_reader(io.BytesIO(memoryview(data)[5:]), writer_parsed, reader_parsed)
        return event_type, record


_default: AvroCodec | None = None


def default_codec() -> AvroCodec:
    global _default
    if _default is None:
        _default = AvroCodec()
    return _default
