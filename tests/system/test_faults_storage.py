"""Storage faults: a full disk under the embedded log, an unusable data directory, a damaged log file,
and a view store that goes down. Each must end in a clear error that names the file or the store,
lose nothing that was acknowledged, and recover as README.md "Recovery" says.

- Disk full: a connector runs in a child process whose file-size limit (RLIMIT_FSIZE, the kernel
  refusing writes with EFBIG as on a full disk) is hit by the log's WAL mid-run. It retries, then
  stops with EventLogUnavailable naming the topic and the log file; the log is intact and holds
  exactly the checkpointed batches; a re-run once there is room publishes the rest, each event once.
- Unusable data directory: the CLI says which path and why, without a traceback.
- Damaged log: bytes of the log file overwritten — reading it is an EventLogError naming the file and
  pointing at the recovery section; a torn WAL tail (a crash mid-write) loses no committed record.
- View store down: the projector stops with ViewStoreUnavailable naming the store and commits nothing
  it did not write; once the store is back it catches up to exactly the tables of an uninterrupted
  projection. The API answers 503 view_store_unavailable meanwhile, never 500. The store's password
  appears in no message.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from hub.cli.main import cli
from runtime.eventlog.base import EventLogError
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.viewstore import ViewStoreUnavailable, open_view_store
from schemas.wire import default_codec
from streams.runners.views import run_projector
from streams.views.projector import COLUMNS, ViewProjector
from tests.support import ChdbHttpServer, chdb_data_dir, unique_database
from tests.support.run_processors import build_runner
from tests.support.tiny_connector import GOOD_ID, HEADER, TinyPoliceConnector, good_row
from tests.support.viewstore import view_store_settings

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000

# A connector run under a file-size limit: the kernel refuses to grow any file past `limit` bytes.
DISK_FULL_CHILD = r"""
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # EFBIG instead of death, as a full disk gives ENOSPC
data, limit = Path(sys.argv[1]), int(sys.argv[2])
from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, EventLogUnavailable, RetryPolicy
from consent.privacy.keys import open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.embedded import EmbeddedEventLog
from tests.support.tiny_connector import TinyPoliceConnector
keystore, log = open_keystore(data), EmbeddedEventLog(data / "log.db")
state = ConnectorState(data / "connectors.db")
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
runner = ConnectorRunner(TinyPoliceConnector(), log, Protector(keystore), state, progress=False,
                         batch_records=200, retry=RetryPolicy(attempts=3, initial_delay_s=0.05, max_total_s=5))
try:
    runner.run(CsvSource(data / "incidents.csv"))
except EventLogUnavailable as exc:
    print(str(exc), file=sys.stderr)
    sys.exit(3)
"""


def event_ids(log: EmbeddedEventLog, topic: str = "justlink.police.events") -> Counter[str]:
    codec = default_codec()
    found: Counter[str] = Counter()
    with log.consumer(f"check-{time.time_ns()}", [topic]) as consumer:
        while batch := consumer.poll(5000, timeout_s=0):
            found.update(codec.decode(r.value)[1]["envelope"]["event_id"] for r in batch)
    return found


def test_disk_full_stops_the_connector_clearly_and_a_rerun_publishes_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    init_keystore(data)
    (data / "incidents.csv").write_text(HEADER + "".join(good_row(i, "欧阳娜娜") for i in range(ROWS)),
                                        encoding="utf-8")
    child = subprocess.run([sys.executable, "-c", DISK_FULL_CHILD, str(data), str(1_500_000)], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert child.returncode == 3, child.stderr[-2000:]
    message = child.stderr.strip().splitlines()[-1]
    assert "topic 'justlink.police.events'" in message and str(data / "log.db") in message, message
    assert "disk is full" in message or "disk I/O error" in message, message   # ENOSPC / EFBIG
    assert "event log unavailable, retrying in" in child.stderr
    for secret in ("欧阳娜娜", GOOD_ID, "13800138000"):
        assert secret not in child.stderr

    with sqlite3.connect(data / "log.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    keystore = open_keystore(data)
    state = ConnectorState(data / "connectors.db")
    log = EmbeddedEventLog(data / "log.db")
    try:
        before = event_ids(log)
        checkpoint = state.checkpoint("police", "incidents.csv")
        assert 0 < len(before) < ROWS and set(before.values()) == {1}
        assert checkpoint is not None and int(checkpoint.split("@")[0]) - 1 == len(before), \
            "the checkpoint covers exactly the acknowledged batches"
        rerun = ConnectorRunner(TinyPoliceConnector(), log, Protector(keystore), state,
                                progress=False).run(CsvSource(data / "incidents.csv"))
        assert (rerun.read, rerun.published) == (ROWS - len(before), ROWS - len(before))
        after = event_ids(log)
        assert len(after) == ROWS and set(after.values()) == {1}, "every event exactly once"
    finally:
        log.close()
        state.close()
        keystore.close()


def test_an_unusable_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "incidents.csv"
    source.write_text(HEADER + good_row(1), encoding="utf-8")
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("")
    runner = CliRunner()
    result = runner.invoke(cli, ["connector", "run", "police", "--source", str(source)],
                           env={"JUSTLINK_DATA_DIR": str(a_file / "data"), "JUSTLINK_MASTER_KEY": None})
    assert result.exit_code != 0
    assert str(a_file / "data") in result.output and "Traceback" not in result.output, result.output

    data = tmp_path / "data"
    init_keystore(data)
    (data / "log.db").mkdir()              # where the log file should be, something SQLite cannot open
    result = runner.invoke(cli, ["connector", "run", "police", "--source", str(source)],
                           env={"JUSTLINK_DATA_DIR": str(data), "JUSTLINK_MASTER_KEY": None})
    assert result.exit_code != 0
    assert f"cannot open the embedded event log {data / 'log.db'}" in result.output, result.output
    assert "Traceback" not in result.output


def _filled_log(path: Path, batches: int = 200) -> None:
    with EmbeddedEventLog(path) as log:
        log.create_topic("events", 2)
        for i in range(batches):
            log.append_many("events", [(f"k{j}".encode(), f"{i}-{j}".encode() * 30) for j in range(20)])


def test_a_damaged_log_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    _filled_log(path)
    size = path.stat().st_size
    with path.open("r+b") as fh:                # the last pages overwritten (a bad sector, a bad copy)
        fh.seek(size - 16384)
        fh.write(os.urandom(16384))
    with pytest.raises(EventLogError) as caught:
        log = EmbeddedEventLog(path)
        try:
            with log.consumer("reader", ["events"]) as consumer:
                while consumer.poll(5000, timeout_s=0):
                    pass
        finally:
            log.close()
    message = str(caught.value)
    assert str(path) in message and "malformed" in message and "Recovery" in message, message


def test_a_torn_wal_tail_loses_no_committed_record(tmp_path: Path) -> None:
    """A crash mid-write leaves a WAL whose last frame is incomplete: SQLite ignores it at recovery."""
    path = tmp_path / "log.db"
    log = EmbeddedEventLog(path)
    log.create_topic("events", 2)
    for i in range(50):
        log.append_many("events", [(f"k{j}".encode(), f"{i}-{j}".encode() * 30) for j in range(20)])
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("log.db", "log.db-wal"):       # the files as a crash leaves them (WAL not checkpointed)
        shutil.copy(tmp_path / name, copy / name)
    log.close()
    with (copy / "log.db-wal").open("ab") as fh:
        fh.write(os.urandom(1500))              # half a frame of a transaction that never committed
    with EmbeddedEventLog(copy / "log.db") as recovered, recovered.consumer("r", ["events"]) as consumer:
        records = []
        while batch := consumer.poll(5000, timeout_s=0):
            records += batch
        assert len(records) == 50 * 20
        recovered.append("events", b"after recovery")


# ---- view store down ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose log holds a small county run through the connectors and the processors."""
    from connectors.registry import get_connector
    from connectors.synthetic.generator import generate
    from runtime.topics import AGENCIES

    base = tmp_path_factory.mktemp("store-down")
    county, data = base / "county", base / "data"
    generate(county, 120, seed=3)
    init_keystore(data)
    keystore = open_keystore(data)
    log = EmbeddedEventLog(data / "log.db")
    state = ConnectorState(data / "connectors.db")
    for agency in AGENCIES:
        connector = get_connector(agency)
        for source in connector.sources(county):
            ConnectorRunner(connector, log, Protector(keystore), state, progress=False).run(source)
    log.close()
    state.close()
    keystore.close()
    build_runner(data).run()
    return data


def table_contents(store, table: str) -> list:
    columns = [c for c in COLUMNS[table] if c != "version"]
    return sorted(map(repr, store.query_rows(f"SELECT {', '.join(columns)} FROM {table} FINAL")))


class DownableServer(ChdbHttpServer):
    """The test ClickHouse server, which can go down as a server does: it stops listening AND drops the
    connections its clients keep alive (stop() alone lets handler threads serve them on)."""

    def start(self) -> DownableServer:
        super().start()
        server = self._server
        assert server is not None
        self.connections: list[socket.socket] = []
        accept = server.get_request

        def tracked() -> tuple[socket.socket, object]:
            conn, address = accept()
            self.connections.append(conn)
            return conn, address

        server.get_request = tracked  # type: ignore[method-assign]
        return self

    def go_down(self) -> None:
        self.stop()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class StopsTheStore(ViewProjector):
    """The real projector; the test's server goes down while it works (after `after` batches)."""

    def __init__(self, store, server: DownableServer, after: int) -> None:
        super().__init__(store)
        self.server, self.after, self.batches = server, after, 0

    def apply_records(self, records) -> int:
        self.batches += 1
        if self.batches == self.after:
            self.server.go_down()
        return super().apply_records(records)


def test_the_projector_stops_clearly_while_the_store_is_down_and_catches_up(processed: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pw-do-not-log-7f3a"
    reference = open_view_store(view_store_settings("chdb"))
    server = DownableServer(chdb_data_dir() / "views").start()
    port = server.port
    settings = view_store_settings("clickhouse").model_copy(update={"clickhouse_port": port,
                                                                    "clickhouse_password": password})
    store = open_view_store(settings)
    log = EmbeddedEventLog(processed / "log.db")
    group = f"views-{time.time_ns()}"
    try:
        reference.migrate()
        run_projector(log, ViewProjector(reference), group=f"reference-{time.time_ns()}")
        store.migrate()
        with pytest.raises(ViewStoreUnavailable) as caught:
            run_projector(log, StopsTheStore(store, server, after=3), group=group, batch_size=300)
        message = str(caught.value)
        assert f"clickhouse at 127.0.0.1:{port}" in message and password not in message, message
        with log.consumer(group, ["justlink.resolved"]) as consumer:
            committed = sum(consumer.committed().values())
        assert 0 < committed, "the batches written before the outage are committed"
        with pytest.raises(ViewStoreUnavailable):    # still down: a restart of the projector fails clearly too
            run_projector(log, ViewProjector(store), group=group)
        server = ChdbHttpServer(chdb_data_dir() / "views", port=port).start()
        stats = run_projector(log, ViewProjector(store), group=group)
        assert stats.records > 0
        for table in ("timeline", "person_lookup", "person_records", "dispute_events", "alerts",
                      "person_redirects", "dispute_redirects"):
            assert table_contents(store, table) == table_contents(reference, table), table
        logs = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
        assert password not in logs
    finally:
        log.close()
        for s in (store, reference):
            try:
                s.command(f"DROP DATABASE IF EXISTS `{s.database}`")
            finally:
                s.close()
        server.stop()


def test_the_api_answers_503_while_the_store_is_down(processed: Path, tmp_path: Path) -> None:
    from consent.access.users import UserRegistry, create_demo_users
    from hub.api.app import create_app
    from hub.services.context import AppServices

    data = tmp_path / "data"
    shutil.copytree(processed, data)
    server = DownableServer(chdb_data_dir() / "views").start()
    settings = view_store_settings("clickhouse", unique_database("down")).model_copy(
        update={"data_dir": data, "clickhouse_port": server.port})
    store = open_view_store(settings)
    store.migrate()
    log = EmbeddedEventLog(data / "log.db")
    keystore = open_keystore(data)
    with UserRegistry.open(data) as registry:
        token = next(t.token for t in create_demo_users(registry) if t.user_id == "judge.demo")
    services = AppServices.build(settings, log, store, Protector(keystore))
    try:
        with TestClient(create_app(services)) as client:
            person = "P0123456789abcdef"
            server.go_down()
            # break-glass, so that the gate lets the read through to the store that is down
            sent = {"Authorization": f"Bearer {token}", "X-JustLink-Role": "judge",
                    "X-JustLink-Purpose": "adjudication", "X-JustLink-Case": "ANY",
                    "X-JustLink-Break-Glass": "urgent%20protection%20order%20hearing%20today"}
            response = client.get(f"/api/v1/persons/{person}/history", headers=sent)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["reason"] == "view_store_unavailable"
            assert response.headers["retry-after"] and "127.0.0.1" not in response.text
            assert json.loads(client.get("/healthz").text) == {"status": "ok"}
    finally:
        services.close()
        store.close()
        log.close()
        keystore.close()
        server.stop()
