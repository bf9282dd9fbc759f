"""The compiled Avro codec is byte-identical to fastavro for every contract, on random
records that exercise nulls, empty and long arrays, unicode, big and negative numbers."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest

from schemas import loader
from schemas.fastcodec import compile_codec


def random_value(t: Any, named: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    if isinstance(t, list):
        return None if rng.random() < 0.3 else random_value(t[1], named, rng, depth)
    if isinstance(t, str) and t.rsplit(".", 1)[-1] in named:
        t = named[t.rsplit(".", 1)[-1]]
    if isinstance(t, dict) and t.get("type") in ("record", "enum"):
        named[t["name"].rsplit(".", 1)[-1]] = t
    kind = t["type"] if isinstance(t, dict) else t
    if isinstance(kind, (dict, list)):
        return random_value(kind, named, rng, depth)
    if isinstance(t, dict) and t.get("logicalType") == "timestamp-millis":
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rng.randrange(-10**11, 4 * 10**12))
    if kind == "string":
        return "".join(rng.choice("ab张伟章·🙂x9 ") for _ in range(rng.randrange(0, 40)))
    if kind == "bytes":
        return rng.randbytes(rng.randrange(0, 200))
    if kind in ("int", "long"):
        return rng.choice([0, -1, 1, 63, 64, -65, 1023, 1024, rng.randrange(-2**31, 2**31)])
    if kind == "double":
        return rng.uniform(-1e9, 1e9)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "enum":
        return rng.choice(t["symbols"])
    if kind == "array":
        count = rng.choice([0, 1, 3, 70]) if depth < 2 else 1
        return [random_value(t["items"], named, rng, depth + 1) for _ in range(count)]
    if kind == "record":
        return {f["name"]: random_value(f["type"], named, rng, depth + 1) for f in t["fields"]}
    raise AssertionError(kind)


def named_types(t: Any, named: dict[str, Any]) -> dict[str, Any]:
    if isinstance(t, list):
        for branch in t:
            named_types(branch, named)
    elif isinstance(t, dict):
        if t.get("type") in ("record", "enum"):
            named[t["name"].rsplit(".", 1)[-1]] = t
        for key in ("type", "items", "values"):
            if isinstance(t.get(key), (dict, list)):
                named_types(t[key], named)
        for f in t.get("fields", ()):
            named_types(f["type"], named)
    return named


@pytest.mark.parametrize("event_type", sorted(loader.load_all()))
def test_compiled_codec_matches_fastavro(event_type: str):
    schema = loader.get(event_type)
    encode, decode = compile_codec(schema.expanded)
    rng = random.Random(event_type)
    for _ in range(30):
        record = random_value(schema.expanded, named_types(schema.expanded, {}), rng)
        expected = io.BytesIO()
        fastavro.schemaless_writer(expected, schema.parsed, record)
        out = bytearray()
        encode(record, out)
        assert bytes(out) == expected.getvalue()
        decoded, pos = decode(bytes(out), 0)
        assert pos == len(out)
        assert decoded == fastavro.schemaless_reader(io.BytesIO(bytes(out)), schema.parsed, None)
