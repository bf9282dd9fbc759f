"""Deterministic event ids: the same agency, record key and version give the same id on
every run and machine, so re-running a connector or a processor publishes nothing new."""

from __future__ import annotations

import hashlib
import uuid

EVENT_ID_NAMESPACE = uuid.UUID("8d0b5a4e-4a51-4d69-9a38-6c1b7f0e2a11")
_EVENT_ID_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def uuid5_text(namespace: bytes, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`, without building UUID objects (a hot path: every event and
    every decision gets one)."""
    raw = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_id_for(agency: str, record_key: str, version: int) -> str:
    return uuid5_text(_EVENT_ID_NAMESPACE_BYTES, f"{agency}\x1f{record_key}\x1f{version}")
