"""No code execution through processor state: a pickle planted in the embedded runner's snapshot or in
the faust runner's changelog never runs — it is refused with a clear error, and the state is rebuilt
from the log, the same as before."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest

from runtime import statecodec
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.statecodec import StateCodecError
from streams.runners.faust_state import PartitionState, write_set_records
from tests.support.county import generated_and_published
from tests.support.run_processors import build_runner


class Payload:
    """What an attacker plants: unpickling it creates `marker` (any code could run instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _planted(marker: Path) -> bytes:
    return pickle.dumps({"tables": Payload(marker), "offsets": {}})


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> tuple[Path, dict, int]:
    """A generated county, published and processed once: (data dir, the state's tables, outputs)."""
    _, data = generated_and_published(tmp_path_factory.mktemp("state"), 200, 5)
    runner = build_runner(data)
    stats = runner.run(until_idle=True)
    return data, runner.state.tables, stats.outputs


def _output_count(data: Path) -> int:
    with EmbeddedEventLog(data / "log.db") as log:
        return sum(sum(log.end_offsets(topic).values()) for topic in log.topics() if not topic.startswith("justlink.audit"))


def test_real_state_round_trips_through_the_data_only_codec(processed) -> None:
    data, tables, _ = processed
    snapshot = (data / "state" / "processors.state").read_bytes()
    assert snapshot.startswith(statecodec.MAGIC) and b"pickle" not in snapshot
    assert statecodec.loads(statecodec.dumps(tables)) == tables
    assert (data / "state" / "processors.state").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("plant", ["pickle", "truncated", "garbage"])
def test_a_planted_or_damaged_snapshot_is_refused_and_the_state_rebuilt(processed, tmp_path, caplog, plant) -> None:
    data, tables, _ = processed
    path = data / "state" / "processors.state"
    marker = tmp_path / "pwned"
    good = path.read_bytes()
    path.write_bytes({"pickle": _planted(marker), "truncated": good[: len(good) // 2],
                      "garbage": statecodec.MAGIC + os.urandom(64)}[plant])
    before = _output_count(data)
    runner = build_runner(data)
    with caplog.at_level(logging.ERROR, logger="justlink.runner"):
        runner.run(until_idle=True)
    assert not marker.exists(), "the planted pickle ran"
    assert any("processor snapshot" in r.getMessage() and "refused" in r.getMessage() and "rebuilding" in
               r.getMessage() for r in caplog.records)
    assert (data / "state" / "processors.state.refused").exists()
    assert runner.state.tables == tables, "the state rebuilt from the log differs"
    assert _output_count(data) == before, "the rebuild published its outputs again"


def test_a_pickle_in_the_changelog_never_runs_and_the_partition_rebuilds(tmp_path, caplog) -> None:
    marker = tmp_path / "pwned"
    state = PartitionState(3)
    state.table("runner.seen")["e1"] = 0
    state.next_offset = 1
    good = write_set_records(3, 1, state.take_write_set())
    recovered = PartitionState(3)
    for _, value in good:
        recovered.apply_record(value)
    assert recovered.tables == {"runner.seen": {"e1": 0}} and recovered.next_offset == 1

    with caplog.at_level(logging.ERROR, logger="justlink.runner"):
        recovered.apply_record(b"0/1\n" + pickle.dumps(Payload(marker)))
    assert not marker.exists(), "the planted changelog record ran"
    assert recovered.refused and recovered.tables == {} and recovered.next_offset == 0
    assert any("changelog record was refused" in r.getMessage() for r in caplog.records)

    state.table("runner.seen")["e2"] = 1  # a later delta on the refused state is not applied ...
    state.next_offset = 2
    for _, value in write_set_records(3, 2, state.take_write_set()):
        recovered.apply_record(value)
    assert recovered.tables == {} and recovered.next_offset == 0
    rebuilt = PartitionState(3)  # ... until the rebuild's first write-set, a base, replaces everything
    rebuilt._base_next = recovered._base_next
    rebuilt.table("runner.seen")["e1"] = 0
    rebuilt.next_offset = 1
    for _, value in write_set_records(3, 1, rebuilt.take_write_set()):
        recovered.apply_record(value)
    assert not recovered.refused and recovered.tables == {"runner.seen": {"e1": 0}} and recovered.next_offset == 1


def test_the_codec_refuses_what_it_cannot_carry() -> None:
    with pytest.raises(StateCodecError, match="Payload"):
        statecodec.dumps({"x": Payload(Path("/nonexistent"))})
    with pytest.raises(StateCodecError, match="JLS1"):
        statecodec.loads(pickle.dumps({"a": 1}))
