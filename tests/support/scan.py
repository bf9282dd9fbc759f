"""Raw-byte scans for personal values: a value is found in its UTF-8 or its GB18030 bytes, and a
finding names only the value's length, never the value."""

from __future__ import annotations


def hits(blob: bytes, secrets: set[str]) -> list[str]:
    found = []
    for s in secrets:
        if s.encode("utf-8") in blob or s.encode("gb18030") in blob:
            found.append(f"a value of {len(s)} characters")
    return found
