"""A synthetic county published through the four real connectors: the starting point of
the pipeline, fault, alert and privacy tests."""

from __future__ import annotations

from pathlib import Path

from connectors.registry import get_connector
from connectors.sdk import ConnectorRunner, ConnectorState
from connectors.synthetic.generator import generate
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.base import EventLog
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AGENCIES


def publish_county(county: Path, data: Path, log: EventLog | None = None) -> None:
    """Create the keystore in `data` and run every agency's connector over `county` into `log`
    (by default the embedded log `data/log.db`, closed again afterwards)."""
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
            for source in connector.sources(county):
                runner.run(source)
    finally:
        state.close()
        keystore.close()
        if own_log:
            log.close()


def generated_and_published(base: Path, persons: int, seed: int) -> tuple[Path, Path]:
    """(county export dir, data dir with the published log) under `base`."""
    county, data = base / "county", base / "data"
    generate(county, persons, seed)
    publish_county(county, data)
    return county, data


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
