"""The connector SDK: declare how to read and map; the SDK does the rest."""

from connectors.sdk.connector import Connector
from connectors.sdk.errors import RecordError
from connectors.sdk.mapping import (
    MappedEvent,
    event_id_for,
    flag,
    lookup,
    number,
    parse_datetime,
    parties,
    party,
    ref,
    required,
    text,
)
from connectors.sdk.runtime import (
    ConnectorRunner,
    EventLogUnavailable,
    RetryPolicy,
    RunSummary,
    run_connector,
)
from connectors.sdk.sources import (
    CsvSource,
    JsonLinesSource,
    Source,
    SourceRecord,
    SqlSource,
    UnreadableRecord,
)
from connectors.sdk.state import ConnectorState

__all__ = [
    "Connector", "ConnectorRunner", "ConnectorState", "CsvSource", "EventLogUnavailable", "JsonLinesSource",
    "MappedEvent", "RecordError", "RetryPolicy", "RunSummary", "Source", "SourceRecord", "SqlSource", "UnreadableRecord", "event_id_for", "flag", "lookup",
    "number", "parse_datetime", "parties", "party", "ref", "required", "run_connector", "text",
]
