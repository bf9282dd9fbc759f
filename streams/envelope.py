"""Envelopes for the events the hub's own processors emit (DisputeThreaded, AlertRaised, ...).

Built like the connector SDK builds agency envelopes: agency "hub", a deterministic event id
from `event_id_for("hub", key, 1)`. Processors pass the input event's times, so handling an
input again (at-least-once runners) or replaying the log yields the same ids and the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.clock import to_utc
from schemas.ids import event_id_for

HUB_AGENCY = "hub"


def hub_event_id(key: str) -> str:
    """Deterministic id of a hub decision: the same key gives the same id on every run."""
    return event_id_for(HUB_AGENCY, key, 1)


def record_ref(agency: str, record_type: str, record_id: str, relation: str = "refers_to") -> dict[str, str]:
    return {"agency": agency, "record_type": record_type, "record_id": record_id, "relation": relation}


def hub_envelope(event_type: str, key: str, occurred_at: Any, *, recorded_at: Any = None,
                 office_code: str = HUB_AGENCY, office_name: str = "", county_code: str = "",
                 related: Iterable[dict[str, str]] = (), restriction: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The envelope of a hub event whose natural key is `key` (e.g. dispute id + input event id).

    `recorded_at` defaults to `occurred_at` so that the envelope is a pure function of the input;
    pass the input's restriction so that decisions about sealed records stay sealed."""
    occurred = to_utc(occurred_at)
    return {
        "event_id": hub_event_id(key),
        "event_type": event_type,
        "source": {"agency": HUB_AGENCY, "office_code": office_code, "office_name": office_name,
                   "county_code": county_code},
        "source_record_key": key,
        "source_record_version": 1,
        "occurred_at": occurred,
        "recorded_at": to_utc(recorded_at) if recorded_at is not None else occurred,
        "schema_version": 1,
        "related": list(related),
        "restriction": restriction,
    }
