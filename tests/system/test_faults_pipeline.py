"""SIGKILL the embedded deployment's processors AND view projector, again and again at random points of
a large replay: the final views — timelines, alerts, person lookups, dispute events, redirects — equal
an uninterrupted run's. (tests/streams/test_runner_embedded.py kills the processors alone and compares the
output topics; this one runs the pipeline with the alerts processor, as `justlink serve` does, and
compares what the API reads.)

Each run is a child process (`python -m tests.system.test_faults_pipeline run DATA_DIR`): chDB holds one data
path per process, and a SIGKILL must hit a real process. It runs the processors (exactly-once embedded
runner) in one thread and the projector (at-least-once into ReplacingMergeTree tables) in another, on
the data dir's own chDB views. `dump DATA_DIR` prints the views as JSON, with retired person and
dispute ids followed to the live ones (the projector may flatten a redirect chain sooner after a crash;
a reader follows redirects either way).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KILLS = 12


# ---- the child ----------------------------------------------------------------------------------------
def _hub(data: Path):
    from hub.bootstrap import Hub
    from runtime.settings import Settings

    hub = Hub(Settings(data_dir=data))
    hub.runner.batch_size = 50
    hub.runner.snapshot_every_s = 0.05
    return hub


def child_run(data: Path) -> None:
    from streams.runners.views import run_projector

    hub = _hub(data)
    processors_done = threading.Event()
    errors: list[BaseException] = []

    def processors() -> None:
        try:
            hub.runner.run(until_idle=True)
        except BaseException as exc:
            errors.append(exc)
        finally:
            processors_done.set()

    thread = threading.Thread(target=processors, name="processors")
    print("ready", flush=True)
    thread.start()
    while True:  # project while the processors work; once they are done, until the views are idle
        done = processors_done.is_set()
        stats = run_projector(hub.log, hub.projector, until_idle=True, batch_size=200, idle_timeout_s=0.05)
        if done and stats.records == 0:
            break
    thread.join()
    if errors:
        raise errors[0]
    hub.close()
    print("done", flush=True)


def child_dump(data: Path) -> None:
    hub = _hub(data)
    store = hub.view_store

    def flat(table: str, live_col: str) -> dict[str, str]:
        redirect = dict(store.query_rows(f"SELECT retired_id, {live_col} FROM {table} FINAL"))

        def follow(key: str) -> str:
            seen = set()
            while key in redirect and key not in seen:
                seen.add(key)
                key = redirect[key]
            return key
        return {k: follow(k) for k in redirect}

    persons, disputes = flat("person_redirects", "person_id"), flat("dispute_redirects", "dispute_id")

    def p(x: str) -> str:
        return persons.get(x, x)

    def d(x: str) -> str:
        return disputes.get(x, x)

    timeline = sorted([p(r[0]), r[1], r[2], r[3], r[4], r[5], d(r[6]), r[7], r[8],
                       hashlib.sha256(r[9].encode()).hexdigest()[:16]] for r in store.query_rows(
        "SELECT person_id, event_id, party_index, event_type, agency, stage, dispute_id, role, restricted, "
        "payload FROM timeline FINAL WHERE is_deleted = 0"))
    alerts = sorted([r[0], p(r[1]), d(r[2]), r[3], r[4], r[5], r[6], str(r[7]), sorted(r[8])]
                    for r in store.query_rows("SELECT alert_id, person_id, dispute_id, rule, level, role, status, "
                                              "raised_at, evidence FROM alerts FINAL WHERE is_deleted = 0"))
    lookup = sorted([r[0], r[1], p(r[2])] for r in store.query_rows(
        "SELECT bi_kind, bi, person_id FROM person_lookup FINAL WHERE is_deleted = 0"))
    dispute_events = sorted([d(r[0]), r[1], r[2]] for r in store.query_rows(
        "SELECT dispute_id, event_id, stage FROM dispute_events FINAL WHERE is_deleted = 0"))
    records = sorted([r[0], p(r[1])] for r in store.query_rows(
        "SELECT record_key, person_id FROM person_records FINAL"))
    print(json.dumps({"timeline": timeline, "alerts": alerts, "person_lookup": lookup,
                      "dispute_events": dispute_events, "person_records": records,
                      "person_redirects": persons, "dispute_redirects": disputes}, default=str))
    hub.close()


# ---- the test -----------------------------------------------------------------------------------------
def _child(mode: str, data: Path, **kwargs) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.system.test_faults_pipeline", mode, str(data)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def run_to_end(data: Path) -> None:
    child = _child("run", data)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0 and out.rstrip().endswith("done"), err[-3000:]


def dump(data: Path) -> dict:
    child = _child("dump", data)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose log holds a 600-person county published by the four connectors."""
    from tests.support.county import generated_and_published

    return generated_and_published(tmp_path_factory.mktemp("faults-pipeline"), 600, seed=12)[1]


def test_sigkill_of_processors_and_projector_gives_the_uninterrupted_views(published: Path,
                                                                           tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(published, reference)
    started = time.monotonic()
    run_to_end(reference)
    uninterrupted_s = time.monotonic() - started
    expected = dump(reference)
    assert len(expected["timeline"]) > 800 and expected["alerts"], "the replay must be large and raise alerts"

    crashed = tmp_path / "crashed"
    shutil.copytree(published, crashed)
    rng = random.Random(17)
    kills = 0
    for _ in range(KILLS):
        child = _child("run", crashed)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.05, 0.8))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.communicate()
    run_to_end(crashed)
    got = dump(crashed)
    print(f"\nuninterrupted run {uninterrupted_s:.1f} s; {kills} SIGKILLs; {len(got['timeline'])} timeline rows, "
          f"{len(got['alerts'])} alerts")
    assert kills >= 10, "the test must actually interrupt the runs"
    for table in expected:
        assert got[table] == expected[table], f"{table} differs from the uninterrupted run"


if __name__ == "__main__":
    {"run": child_run, "dump": child_dump}[sys.argv[1]](Path(sys.argv[2]))
