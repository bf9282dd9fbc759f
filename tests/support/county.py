"""A synthetic county (or several, with people who move between them) published through the four
real connectors: the starting point of the pipeline, fault, alert, privacy and parity tests.

Several counties (`counties=K`): `generate` writes one export folder per county, `<root>/<division
code>/`, and one truth, `<root>/truth/` (every row with its `county`; `movers.csv`); `publish_county`
runs every agency's connector over every county folder into one log, each event stamped with its
county's division code (envelope.source.county_code)."""

from __future__ import annotations

import csv
from pathlib import Path

from connectors.county import county_exports, county_sources
from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState
from connectors.synthetic.generator import MOVERS, generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.base import EventLog
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AGENCIES


def publish_county(county: Path, data: Path, log: EventLog | None = None) -> None:
    """Create the keystore in `data` and run every agency's connector over `county` (one county's
    export, or the root of several: every county folder) into `log` (by default the embedded log
    `data/log.db`, closed again afterwards)."""
    data.mkdir(parents=True, exist_ok=True)
    init_keystore(data)
    keystore = open_keystore(data)
    own_log = log is None
    log = log or EmbeddedEventLog(data / "log.db")
    state = ConnectorState(data / "connectors.db")
    try:
        for agency in AGENCIES:
            connector = get_connector(agency)
            runner = ConnectorRunner(connector, log, Protector(keystore), state, progress=False)
            for source in county_sources(connector, county):
                runner.run(source)
    finally:
        state.close()
        keystore.close()
        if own_log:
            log.close()


def generated_and_published(base: Path, persons: int, seed: int, counties: int = 1,
                            movers: float = MOVERS) -> tuple[Path, Path]:
    """(export dir, data dir with the published log) under `base`. With `counties` > 1 the export dir
    is the root of the county folders, `persons` are split between the counties and a share `movers`
    of them moves to another county; all counties are published into the one log."""
    county, data = base / "county", base / "data"
    generate(county, persons, seed, counties=counties, movers=movers)
    publish_county(county, data)
    return county, data


def county_folders(root: Path) -> list[Path]:
    """The export folder of every county under `root` (`root` itself for a single county)."""
    return county_exports(root)


def read_truth(root: Path, name: str) -> list[dict[str, str]]:
    """The rows of `root/truth/<name>` (persons.csv, disputes.csv, events.csv; movers.csv with several
    counties) as dicts."""
    with (root / "truth" / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def agency_events(data: Path) -> list:
    """The agency events of the embedded log in `data`, decoded (streams.processor.Event), in append order."""
    from schemas.wire import default_codec
    from streams.processor import Event

    codec = default_codec()
    log = EmbeddedEventLog(data / "log.db")
    consumer = log.consumer("read-back", [f"justlink.{agency}.events" for agency in AGENCIES])
    events = []
    while batch := consumer.poll(5000, timeout_s=0.2):
        events.extend(Event(*codec.decode(r.value), r.topic, r.partition, r.offset, r.value) for r in batch)
    consumer.close()
    log.close()
    return events
