"""Privacy by construction, proven on raw bytes: a realistic county goes through the
real connectors into both log backends, through the processors, and into the views on
both view deployments; then every log file, topic record, view table (raw files and a
full dump), dead letter and log line is scanned for the plaintext of every name, ID
number, phone and address the county used. Zero hits."""

from __future__ import annotations

import base64
import csv
import logging
import time
from pathlib import Path

import pytest

from connectors.synthetic.exporters import FILES
from connectors.synthetic.generator import generate
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.eventlog.kafka import KafkaEventLog
from runtime.topics import AGENCIES
from streams.runners.views import run_projector
from streams.views.projector import COLUMNS, ViewProjector
from tests.support import chdb_data_dir
from tests.support.county import publish_county
from tests.support.run_processors import build_runner
from tests.support.scan import hits
from tests.support.viewstore import VIEW_BACKENDS, view_store_settings

PERSONAL_SUFFIXES = ("姓名", "名称", "证件号码", "身份证号", "联系电话", "住址", "现住址", "居住地址", "户籍地址")


def personal_values(county: Path) -> set[str]:
    values: set[str] = set()
    for spec in FILES:
        with (county / spec.path).open(encoding=spec.encoding, newline="") as fh:
            for row in csv.DictReader(fh):
                for column, value in row.items():
                    if column and column != "节点名称" and column.endswith(PERSONAL_SUFFIXES) and len(value or "") >= 2:
                        if column.endswith("名称") and value.endswith(("公司", "医院", "政府", "中心", "局")):
                            continue  # organisations' names are not personal data
                        values.add(value)
    return values


def own_engine_files(store) -> list[Path]:
    """Every file of the chDB engine this test's views could have written: its own tables' parts, and
    everything outside the engine's shared `store/` (metadata, tmp, logs). The suite shares one engine,
    so other tests' tables under `store/` are left out: scanning them made this test minutes long."""
    own = [Path(path) for (paths,) in store.query_rows(
        f"SELECT data_paths FROM system.tables WHERE database = '{store.database}'") for path in paths]
    assert own, "the views database has no tables on disk"
    shared_store = chdb_data_dir() / "views" / "store"
    files = [p for p in chdb_data_dir().rglob("*") if not p.is_relative_to(shared_store)]
    return files + [p for d in own for p in d.rglob("*")]


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain-county")
    generate(out, 400, seed=21)
    return out


def publish(log, county: Path, data: Path) -> None:
    publish_county(county, data, log)


@pytest.mark.parametrize("view_backend", VIEW_BACKENDS)
def test_embedded_log_processors_and_views_hold_no_plaintext(county: Path, tmp_path: Path, caplog,
                                                             view_backend: str):
    secrets = personal_values(county)
    assert len(secrets) > 500
    caplog.set_level(logging.DEBUG)
    data = tmp_path / "data"
    data.mkdir()
    log = EmbeddedEventLog(data / "log.db")
    publish(log, county, data)
    build_runner(data).run()
    settings = view_store_settings(view_backend)
    from runtime.viewstore import open_view_store

    store = open_view_store(settings)
    try:
        store.migrate()
        stats = run_projector(log, ViewProjector(store), group=f"views-{time.time_ns()}")
        assert stats.rows > 1000
        dump = "\n".join(repr(store.query_rows(f"SELECT * FROM {table}")) for table in COLUMNS).encode()
        # the timeline keeps each protected event as base64 of its wire bytes: scan those bytes too
        dump += b"".join(base64.b64decode(p) for (p,) in store.query_rows("SELECT payload FROM timeline"))
        assert b"jle1." in dump, "the dump must contain the protected payloads"
        assert hits(dump, secrets) == []
        engine_files = own_engine_files(store)
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()
    log.close()
    raw = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file() and "keystore" not in p.name)
    assert hits(raw, secrets) == []
    chdb_raw = b"".join(p.read_bytes() for p in engine_files if p.is_file())
    assert hits(chdb_raw, secrets) == []
    assert hits("\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records).encode(), secrets) == []


@pytest.mark.kafka
def test_kafka_topics_hold_no_plaintext(county: Path, tmp_path: Path, kafka_broker: str):
    secrets = personal_values(county)
    log = KafkaEventLog([kafka_broker], client_id="plaintext-scan")
    try:
        publish(log, county, tmp_path)
        raw = b""
        for agency in AGENCIES:
            for topic in (f"justlink.{agency}.events", f"justlink.{agency}.deadletter"):
                consumer = log.consumer(f"scan-{time.time_ns()}", [topic])
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    batch = consumer.poll(5000, timeout_s=1.0)
                    if not batch and raw:
                        break
                    raw += b"".join((r.key or b"") + r.value for r in batch)
                consumer.close()
        assert b"jle1." in raw
        assert hits(raw, secrets) == []
    finally:
        log.close()


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_the_scan_finds_a_value_planted_in_the_views_files(county: Path, encoding: str):
    """The scan is only as good as what it reads: a value written into a table of the test's own views
    database lands in the files `own_engine_files` returns, and `hits` finds it in either encoding."""
    secret = sorted(personal_values(county))[0]
    from runtime.viewstore import open_view_store

    store = open_view_store(view_store_settings("chdb"))
    try:
        store.command(f"CREATE TABLE `{store.database}`.planted (v String) ENGINE = MergeTree ORDER BY v")
        planted = secret.encode(encoding).hex()
        store.command(f"INSERT INTO `{store.database}`.planted VALUES (unhex('{planted}'))")
        files = own_engine_files(store)
        assert hits(b"".join(p.read_bytes() for p in files if p.is_file()), {secret}) == [
            f"a value of {len(secret)} characters"]
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()
