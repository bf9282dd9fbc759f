"""An agency record about people of a generated county, published the way a connector publishes it
(protected, Avro, on the agency's topic) and run through the processors and the projector: for journeys
that need a record the county's exports do not hold (a covert police incident, a sealed juvenile case,
an intake at a second office). The parties carry the persons' recorded identity, so identity resolution
links them to the same persons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.topics import agency_topic
from schemas import loader
from schemas.ids import event_id_for
from schemas.wire import default_codec
from tests.support.api_county import County, party_of


def publish_record(county: County, agency: str, event_type: str, key: str, fields: dict[str, Any],
                   parties: list[tuple[str, str]], *, office_code: str, office_name: str = "",
                   county_code: str = "411730", occurred: datetime | None = None,
                   restriction: dict[str, Any] | None = None, related: list[dict[str, str]] = (),
                   process: bool = True) -> str:
    """Publish one record; `parties` are (person id, party role). Returns its event id."""
    occurred = occurred or datetime.now(UTC) - timedelta(hours=6)
    schema = loader.get(event_type)
    version = default_codec().registry.lookup(schema.full_name, schema.expanded).version
    event_id = event_id_for(agency, f"test\x1f{key}", 1)
    record = {
        "envelope": {"event_id": event_id, "event_type": event_type,
                     "source": {"agency": agency, "office_code": office_code, "office_name": office_name,
                                "county_code": county_code},
                     "source_record_key": f"test\x1f{key}", "source_record_version": 1, "occurred_at": occurred,
                     "recorded_at": occurred, "schema_version": version, "related": list(related),
                     "restriction": restriction},
        **fields,
        "parties": [{**party_of(county.store, county.services, person), "role": role, "protection": None}
                    for person, role in parties],
    }
    protected = county.hub.protector.protect(record, schema.expanded, event_id, agency)
    subject = protected["parties"][0]["protection"]["subject_key"].encode()
    county.hub.log.append(agency_topic(agency), default_codec().encode(event_type, protected), key=subject)
    if process:
        settle(county)
    return event_id


def settle(county: County) -> None:
    """Processors, projector and the services' directories up to the log's head."""
    county.hub.process_until_idle()
    county.hub.project_until_idle()
    county.services.refresh()
