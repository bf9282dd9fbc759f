"""Deterministic event ids: the same agency, record key and version give the same id on
every run and machine, so re-running a connector or a processor publishes nothing new."""

from __future__ import annotations

import uuid

EVENT_ID_NAMESPACE = uuid.UUID("8d0b5a4e-4a51-4d69-9a38-6c1b7f0e2a11")


def event_id_for(agency: str, record_key: str, version: int) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{agency}\x1f{record_key}\x1f{version}"))
