"""The base class an integrator subclasses: declare the agency, how to open the
export, and how to map one source record to canonical events. Nothing else.

    class CourtConnector(Connector):
        agency = "court"
        def sources(self, path): return [CsvSource(path / "court_case_events.csv")]
        def map(self, record): return [MappedEvent("CaseFiled", ...)]

The SDK (connectors.sdk.runtime) owns validation, protection, encoding, publishing,
checkpoints, de-duplication and dead letters, the same way for every connector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from connectors.sdk.mapping import MappedEvent
from connectors.sdk.sources import CsvSource, JsonLinesSource, Source, SourceRecord
from connectors.sdk.validation import InvalidIdPolicy


class Connector(ABC):
    agency: ClassVar[str]
    #: what an ID number with a wrong check digit does: "reject" dead-letters the record
    #: with the reason; "flag" keeps it, with id_number_valid = false for the resolver.
    #: A class default that one run may change (`connector run --invalid-ids`).
    invalid_id_policy: InvalidIdPolicy = "reject"
    #: columns whose names look personal (…名称, …地址) but that are not personal data, e.g. an
    #: office's or a committee's name: the test kit does not flag their values in clear
    non_personal_columns: ClassVar[frozenset[str]] = frozenset()

    @property
    def name(self) -> str:
        return self.agency

    def sources(self, path: Path) -> list[Source]:
        """The sources to read under `path` (a file, or a directory of exports).
        Default: every .csv / .jsonl file, sorted by name, in `path` or in `path/<agency>`."""
        if path.is_dir() and (path / self.agency).is_dir():
            path = path / self.agency  # a county export directory with one folder per agency
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in (".csv", ".jsonl"))
        return [JsonLinesSource(f) if f.suffix == ".jsonl" else CsvSource(f) for f in files]

    @abstractmethod
    def map(self, record: SourceRecord) -> list[MappedEvent]:
        """Canonical events of one source record; raise RecordError(column, why) when it cannot be mapped."""
