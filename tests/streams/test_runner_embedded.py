"""The whole embedded path on a generated county: connectors -> log -> processors ->
views; and the embedded runner killed with SIGKILL mid-replay, again and again, ends
with exactly the persons, threads and decisions of an uninterrupted run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import DISPUTES_TOPIC, IDENTITY_TOPIC, RESOLVED_TOPIC
from schemas.wire import default_codec
from tests.support.county import generated_and_published
from tests.support.run_processors import build_runner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """A data dir whose log holds a 700-person county published by the four connectors."""
    return generated_and_published(tmp_path_factory.mktemp("pipeline"), 700, seed=9)[1]


def copy_data(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def outcome(data: Path) -> dict:
    """Final persons (record -> live person), threads (event -> live thread) and the
    multiset of decision ids, read back from the output topics."""
    log = EmbeddedEventLog(data / "log.db")
    codec = default_codec()
    consumer = log.consumer(f"check-{time.time_ns()}", [IDENTITY_TOPIC, DISPUTES_TOPIC, RESOLVED_TOPIC])
    linked, redirect, placed, thread_redirect = {}, {}, {}, {}
    ids: Counter[str] = Counter()
    while batch := consumer.poll(5000, timeout_s=0.2):
        for record in batch:
            event_type, r = codec.decode(record.value)
            ids[r["envelope"]["event_id"]] += 1
            if event_type == "PersonLinked":
                linked[r["record_key"]] = r["person_id"]
            elif event_type == "PersonsMerged":
                redirect[r["retired_person_id"]] = r["surviving_person_id"]
            elif event_type == "DisputeThreaded":
                if r.get("merged_into"):
                    thread_redirect[r["dispute_id"]] = r["merged_into"]
                else:
                    placed[r["event_ref"]] = r["dispute_id"]
    consumer.close()
    log.close()

    def follow(mapping, key):
        seen = set()
        while key in mapping and key not in seen:
            seen.add(key)
            key = mapping[key]
        return key

    return {"persons": {k: follow(redirect, p) for k, p in linked.items()},
            "threads": {e: follow(thread_redirect, d) for e, d in placed.items()},
            "decision_ids": ids}


def test_pipeline_resolves_and_threads_across_agencies(published: Path, tmp_path: Path):
    data = copy_data(published, tmp_path / "data")
    stats = build_runner(data).run()
    assert stats.events > 300 and stats.dead_lettered == 0
    result = outcome(data)
    agencies_of: dict[str, set[str]] = {}
    log = EmbeddedEventLog(data / "log.db")
    consumer = log.consumer("agencies", [RESOLVED_TOPIC])
    while batch := consumer.poll(5000, timeout_s=0.2):
        for record in batch:
            r = default_codec().decode(record.value)[1]
            for index in range(len(r["person_ids"])):
                person = result["persons"].get(f"{r['event_ref']}#{index}")
                if person:
                    agencies_of.setdefault(person, set()).add(r["source_agency"])
    consumer.close()
    log.close()
    assert sum(1 for a in agencies_of.values() if len(a) >= 3) >= 5, "persons seen by 3+ agencies"
    threads = Counter(result["threads"].values())
    assert sum(1 for n in threads.values() if n >= 3) >= 20, "threads with 3+ events"
    assert max(result["decision_ids"].values()) == 1, "every decision published once"


def test_sigkill_mid_replay_gives_the_uninterrupted_result(published: Path, tmp_path: Path):
    reference = copy_data(published, tmp_path / "reference")
    build_runner(reference, batch_size=50).run()
    expected = outcome(reference)

    crashed = copy_data(published, tmp_path / "crashed")
    rng = random.Random(4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = 0
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-m", "tests.support.run_processors", str(crashed), "50", "0.05"],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.6, 1.6))   # imports take ~0.5 s; kill somewhere in the replay
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    finish = subprocess.run([sys.executable, "-m", "tests.support.run_processors", str(crashed), "50", "0.05"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr[-2000:]
    assert kills >= 3, "the test must actually interrupt the runner"
    got = outcome(crashed)
    assert got["persons"] == expected["persons"]
    assert got["threads"] == expected["threads"]
    assert got["decision_ids"] == expected["decision_ids"], "nothing lost, nothing doubled"
