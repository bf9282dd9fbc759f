"""The embedded log keeps every acknowledged record through a SIGKILL of the writer, and
two processes appending to one file lose nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from runtime.eventlog.base import Record
from runtime.eventlog.embedded import EmbeddedEventLog

# Appends forever (or `count` records) and prints "partition offset value" for each
# acknowledged record, flushed, only after append/append_many returned. With a count, it stops
# halfway, prints "half" and waits for a line on stdin.
WRITER = r"""
import hashlib, sys
from runtime.eventlog.embedded import EmbeddedEventLog

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

def value(i):
    body = f"{name}-{i:07d}".encode()
    return body + b":" + hashlib.sha256(body).hexdigest().encode() * 4

log = EmbeddedEventLog(path)
log.create_topic("events", 4)
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.readline()                # "go": lets a test start several writers together
i = 0
half = count // 2 if count > 0 else -1
while count < 0 or i < count:
    if 0 <= half <= i:              # halfway: wait for "go" again (the test makes two writers overlap)
        half = -1
        sys.stdout.write("half\n"); sys.stdout.flush()
        sys.stdin.readline()
    size = (i % 5) * 7 + 1          # single appends and batches of up to 29
    batch = [(f"key-{(i + j) % 13}".encode(), value(i + j)) for j in range(size)]
    acked = log.append_many("events", batch) if size > 1 else [log.append("events", batch[0][1], key=batch[0][0])]
    sys.stdout.write("".join(f"{a.partition} {a.offset} {v.decode()}\n" for a, (_, v) in zip(acked, batch)))
    sys.stdout.flush()
    i += size
"""


def start_writer(path: Path, name: str, count: int = -1) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])


def go(*writers: subprocess.Popen[str]) -> None:
    for writer in writers:  # every writer has imported and opened the log before any starts
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    go_on(*writers)


def until_halfway(writer: subprocess.Popen[str]) -> list[str]:
    """The acknowledgements a counted writer printed before it stopped halfway."""
    assert writer.stdout is not None and writer.stderr is not None
    lines = []
    for line in writer.stdout:
        if line == "half\n":
            return lines
        lines.append(line.rstrip("\n"))
    raise AssertionError(f"the writer ended before halfway: {writer.stderr.read()[-500:]}")


def go_on(*writers: subprocess.Popen[str]) -> None:
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()


def parse_acks(lines: list[str]) -> dict[tuple[int, int], bytes]:
    acks = {}
    for line in lines:
        partition, offset, value = line.split(" ")
        acks[(int(partition), int(offset))] = value.encode()
    return acks


def intact(value: bytes) -> bool:
    body, _, digest = value.partition(b":")
    return digest == hashlib.sha256(body).hexdigest().encode() * 4


def read_all(path: Path) -> list[Record]:
    with EmbeddedEventLog(path) as log, log.consumer("checker", ["events"]) as consumer:
        records: list[Record] = []
        while batch := consumer.poll(max_records=5000, timeout_s=0):
            records += batch
        return records


def assert_contiguous(records: list[Record]) -> None:
    by_partition: dict[int, list[int]] = {}
    for record in records:
        by_partition.setdefault(record.partition, []).append(record.offset)
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))


def test_sigkill_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    writer = start_writer(path, "w")
    go(writer)
    assert writer.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while len(lines) < 3000 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        assert line, f"writer exited early: {writer.stderr.read() if writer.stderr else ''}"
        lines.append(line.rstrip("\n"))
    os.kill(writer.pid, signal.SIGKILL)
    rest, _ = writer.communicate(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    # whatever it printed before dying was acknowledged, so it counts too
    lines += [line for line in rest.splitlines() if line.count(" ") == 2]
    acks = parse_acks(lines)
    assert len(acks) >= 3000

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    records = read_all(path)
    stored = {(r.partition, r.offset): r.value for r in records}
    missing = [where for where in acks if where not in stored]
    assert not missing, f"{len(missing)} acknowledged records lost, first {missing[:3]}"
    assert all(stored[where] == value for where, value in acks.items())
    assert all(intact(r.value) for r in records)
    # at most the batch in flight at the kill is there without an acknowledgement
    assert len(records) - len(acks) < 30
    assert_contiguous(records)
    with EmbeddedEventLog(path) as log:
        ends = log.end_offsets("events")
        assert sum(ends.values()) == len(records)
        log.append("events", b"after the crash")  # and the log takes appends again


def test_two_processes_appending_to_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    EmbeddedEventLog(path).close()
    writers = [start_writer(path, name, 3000) for name in ("a", "b")]
    go(*writers)
    # both stop halfway before either goes on: whichever is faster, the log holds a, b, a (or b, a, b)
    # runs at least — driven by the writers' progress, not by how fast this machine schedules them
    first_halves = [until_halfway(writer) for writer in writers]
    go_on(*writers)
    acks: dict[tuple[int, int], bytes] = {}
    for writer, first_half in zip(writers, first_halves, strict=True):
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        mine = parse_acks(first_half + out.splitlines())
        assert len(mine) >= 3000
        assert not acks.keys() & mine.keys(), "two acknowledgements for one (partition, offset)"
        acks.update(mine)

    records = read_all(path)
    assert len(records) == len(acks)
    assert {(r.partition, r.offset): r.value for r in records} == acks
    assert all(intact(r.value) for r in records)
    assert_contiguous(records)
    writer_runs = sum(1 for i, r in enumerate(records) if i == 0 or r.value[:1] != records[i - 1].value[:1])
    assert writer_runs > 2, "the two writers did not overlap; the test proved nothing"
