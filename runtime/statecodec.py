"""A data-only codec for processor state: snapshots of the embedded runner, write-sets in the faust
runner's changelog. Decoding can only build data — never call code — so whoever can write the data
directory or the changelog topic cannot make the hub run anything (pickle could).

Format: the magic `JLS1`, then MessagePack. Types beyond MessagePack's own (None, bool, int, float,
str, bytes, list, dict) travel as extension types whose payload is again MessagePack:

    1 tuple       the items as an array
    2 set         the items as an array
    3 frozenset   the items as an array
    4 datetime    ISO 8601 text (with its UTC offset when aware)
    5 date        ISO 8601 text

Anything else is refused when encoding (StateCodecError naming the type). A value that does not
decode — wrong magic, truncated, an unknown extension, trailing bytes — is refused with
StateCodecError; the runners then rebuild the state from the log.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

import msgpack

MAGIC = b"JLS1"
TUPLE, SET, FROZENSET, DATETIME, DATE = 1, 2, 3, 4, 5


class StateCodecError(ValueError):
    """State that cannot be encoded, or bytes that are not encoded state; says why, never the values."""


def _default(value: Any) -> msgpack.ExtType:
    if isinstance(value, tuple):
        return msgpack.ExtType(TUPLE, _pack(list(value)))
    if isinstance(value, frozenset):
        return msgpack.ExtType(FROZENSET, _pack(list(value)))
    if isinstance(value, set):
        return msgpack.ExtType(SET, _pack(list(value)))
    if isinstance(value, datetime):
        return msgpack.ExtType(DATETIME, _pack(value.isoformat()))
    if isinstance(value, date):
        return msgpack.ExtType(DATE, _pack(value.isoformat()))
    raise StateCodecError(f"processor state holds a {type(value).__module__}.{type(value).__qualname__}, which the "
                          "state codec does not carry (data only: None, bool, int, float, str, bytes, list, dict, "
                          "tuple, set, frozenset, datetime, date)")


def _pack(value: Any) -> bytes:
    return cast(bytes, msgpack.packb(value, default=_default, use_bin_type=True, strict_types=True, datetime=False))


def _ext(code: int, payload: bytes) -> Any:
    inner = _unpack(payload)
    if code == TUPLE and isinstance(inner, list):
        return tuple(inner)
    if code == SET and isinstance(inner, list):
        return set(inner)
    if code == FROZENSET and isinstance(inner, list):
        return frozenset(inner)
    if code == DATETIME and isinstance(inner, str):
        return datetime.fromisoformat(inner)
    if code == DATE and isinstance(inner, str):
        return date.fromisoformat(inner)
    raise StateCodecError(f"unknown or malformed extension type {code}")


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext, raw=False, strict_map_key=False, use_list=True, timestamp=0)


def dumps(value: Any) -> bytes:
    """Encode state (see the module doc for the types carried)."""
    try:
        return MAGIC + _pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, StateCodecError):
            raise
        raise StateCodecError(f"processor state cannot be encoded: {type(exc).__name__}") from None


def loads(data: bytes) -> Any:
    """Decode state written by `dumps`; StateCodecError for anything else (a pickle included)."""
    if not data.startswith(MAGIC):
        raise StateCodecError("not JustLink processor state (the file or record does not start with JLS1; "
                              "an old pickle snapshot, or something else, is never loaded)")
    try:
        return _unpack(data[len(MAGIC):])
    except StateCodecError:
        raise
    except (ValueError, TypeError, KeyError, RecursionError, msgpack.UnpackException) as exc:
        raise StateCodecError(f"damaged processor state ({type(exc).__name__}: {exc})") from None
