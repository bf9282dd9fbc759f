"""Person resolution: quality against the synthetic county's ground truth, speed, memory.

Generates a county (`connectors.synthetic`), maps every export row with the real agency connectors
(map + envelope + contract validation), protects every party with the real privacy layer
(consent's Protector over an ephemeral keystore: blind indexes, CLKs), sorts the events by time
(a replay of the merged log) and writes them, protected, to a stream file. The resolver then reads
that stream: IdentityProcessor.handle on a DictState, one event at a time, on one core.

Quality is pairwise over party occurrences of natural persons (organisations are not resolved):
two occurrences are a true pair when truth/persons.csv gives them the same person, a predicted
pair when the resolver does. "occurrences" counts every export row (the steps of one record
repeat its parties verbatim, which makes many easy pairs); "records" first collapses the steps of
each record into one, the harder figure. Errors are listed by record key and attribute outcomes,
never with personal data.

Speed is CPU time inside `handle` only (decoding and protection are outside); memory is the peak
RSS of a process that streams the events of a 1M-person county through the resolver.

    .venv/bin/python -m benchmarks.bench_identity            # quality 200k persons, memory 1M persons
    .venv/bin/python -m benchmarks.bench_identity --quick    # quality 20k persons, memory 100k persons
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.registry import get_connector
from connectors.sdk.mapping import event_id_for
from connectors.sdk.sources import SourceRecord
from connectors.synthetic.generator import generate
from runtime import statecodec
from schemas import models
from streams.identity import IdentityProcessor
from streams.identity.batch import PartyProtection
from streams.processor import DictState, Event

AGENCIES = ("court", "police", "civil_affairs", "justice")
CACHE = Path(tempfile.gettempdir()) / "justlink-bench-identity-grams"  # protection with keyed gram sets
SEED = 11
_FRAME = struct.Struct(">I")


# --- input ------------------------------------------------------------------------------------------
def county(persons: int, seed: int) -> Path:
    data = CACHE / f"county-{persons}-{seed}"
    if not (data / "manifest.json").is_file():
        generate(data, persons, seed)
    return data


def load_truth(data: Path) -> dict[tuple[str, str, int], str]:
    truth = {}
    with open(data / "truth" / "persons.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            truth[(row["agency"], row["record_key"], int(row["party_index"]))] = row["true_person_id"]
    return truth


def load_events(data: Path) -> list[tuple[str, str, Event]]:
    """(agency, record key, plaintext canonical event) of every export row, through the real connectors."""
    out = []
    for agency in AGENCIES:
        connector = get_connector(agency)
        for source in connector.sources(data):
            for item in source.records():
                if not isinstance(item, SourceRecord):
                    raise SystemExit(f"{agency}: unreadable export row in {source.name}")
                for m in connector.map(item):
                    envelope = {"event_id": event_id_for(agency, m.record_key, m.version), "event_type": m.event_type,
                                "source": {"agency": agency, "office_code": m.office_code,
                                           "office_name": m.office_name, "county_code": m.county_code},
                                "source_record_key": m.record_key, "source_record_version": m.version,
                                "occurred_at": m.occurred_at, "recorded_at": m.occurred_at, "related": m.related,
                                "restriction": m.restriction}
                    record = models.validate(m.event_type, {**m.fields, "envelope": envelope})
                    out.append((agency, m.record_key, Event(m.event_type, record)))
    return out


def prepare(persons: int, seed: int) -> Path:
    """The protected event stream of a county, in time order (cached): (agency, key, event type, record)
    frames, each its length and the data-only state codec's bytes (runtime/statecodec.py; never pickle)."""
    stream = CACHE / f"stream-{persons}-{seed}.jls"
    if stream.is_file():
        return stream
    events = load_events(county(persons, seed))
    events.sort(key=lambda item: (item[2].record["envelope"]["occurred_at"], item[0], item[1]))
    protection = PartyProtection()
    tmp = stream.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as handle:
            for i, (agency, key, event) in enumerate(events):
                events[i] = None  # type: ignore[call-overload]  # free plaintext as we go
                env = event.record["envelope"]
                parties = [{"role": p["role"], "kind": p.get("kind", "person"), "gender": p.get("gender"),
                            "protection": protection.protect(p, agency, env["event_id"])}
                           for p in event.record.get("parties") or ()]
                record = {"envelope": env, "parties": parties}
                frame = statecodec.dumps((agency, key, event.event_type, record))
                handle.write(_FRAME.pack(len(frame)) + frame)
    finally:
        protection.close()
    tmp.replace(stream)
    return stream


def read_stream(stream: Path) -> Iterator[tuple[str, str, Event]]:
    with open(stream, "rb") as handle:
        while header := handle.read(_FRAME.size):
            agency, key, event_type, record = statecodec.loads(handle.read(_FRAME.unpack(header)[0]))
            yield agency, key, Event(event_type, record)


# --- resolution -----------------------------------------------------------------------------------
class Run:
    """Feeds the stream to one IdentityProcessor; keeps what scoring and error analysis need."""

    def __init__(self) -> None:
        self.processor = IdentityProcessor()
        self.state = DictState()
        self.occurrence_row: dict[str, tuple[str, str, int]] = {}  # record key -> (agency, row key, party #)
        self.links: list[tuple[str, str, float, str]] = []  # (record key, matched key, score, kind)
        self.cpu = 0.0
        self.events = 0
        self.parties = 0

    def feed(self, stream: Path, keep: bool = True) -> None:
        handle, state, clock = self.processor.handle, self.state, time.process_time
        for agency, key, event in read_stream(stream):
            started = clock()
            outputs = handle(event, state)
            self.cpu += clock() - started
            self.events += 1
            self.parties += len(event.record["parties"])
            if not keep:
                continue
            for i, _ in enumerate(event.record["parties"]):
                self.occurrence_row[f"{event.event_id}#{i}"] = (agency, key, i + 1)
            for out in outputs:
                r = out.record
                if out.event_type == "PersonLinked" and r["matched_record_key"] and r["match_kind"] != "new_person":
                    self.links.append((r["record_key"], r["matched_record_key"], r["score"], r["match_kind"]))
                elif out.event_type == "PersonsMerged":
                    self.links.append((r["via_record_key"], "", r["score"], "merge"))


# --- scoring --------------------------------------------------------------------------------------
def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise(predicted: dict[Any, str], truth: dict[Any, str]) -> dict[str, Any]:
    cells: Counter[tuple[str, str]] = Counter((predicted[k], truth[k]) for k in truth)
    tp = sum(_pairs(n) for n in cells.values())
    pp = sum(_pairs(n) for n in Counter(predicted[k] for k in truth).values())
    tt = sum(_pairs(n) for n in Counter(truth.values()).values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_pairs": tt, "predicted_pairs": pp, "correct_pairs": tp,
            "true_persons": len(set(truth.values())), "predicted_persons": len({predicted[k] for k in truth})}


def quality(run: Run, truth_rows: dict[tuple[str, str, int], str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Pairwise figures over occurrences and over records, and the truth of each occurrence."""
    predicted: dict[str, str] = {}
    truth: dict[str, str] = {}
    units_pred: dict[tuple[str, str, int], str] = {}
    units_true: dict[tuple[str, str, int], str] = {}
    for record_key, (agency, key, index) in run.occurrence_row.items():
        true_id = truth_rows.get((agency, key, index), "")
        person = run.processor.person_of(record_key, run.state)
        if not true_id or true_id.startswith("ORG") or person is None:
            continue
        predicted[record_key] = person
        truth[record_key] = true_id
        unit = (agency, key.rsplit("#", 1)[0], index)
        units_pred.setdefault(unit, person)
        units_true.setdefault(unit, true_id)
    return {"occurrences": {"n": len(truth), **pairwise(predicted, truth)},
            "records": {"n": len(units_true), **pairwise(units_pred, units_true)}}, truth


def _outcomes(explanation: Any) -> str:
    return " ".join(f"{e['attribute']}={e['outcome']}" + (f"({e['similarity']:.2f})" if e["similarity"] is not None
                                                          else "") for e in explanation.evidence
                    if e["outcome"] != "missing")


def errors(run: Run, truth: dict[str, str], limit: int) -> dict[str, Any]:
    """The wrong links (their score and attribute outcomes) and the misses (true persons left in
    several clusters: the closest pair across the split, explained), worst first."""
    label = {k: "{}:{}#p{}".format(*run.occurrence_row[k]) for k in truth}
    wrong = []
    for record_key, matched, score, kind in run.links:
        if kind == "merge" or record_key not in truth or matched not in truth:
            continue
        if truth[record_key] != truth[matched]:
            why = run.processor.explain_records(record_key, matched, run.state)
            wrong.append((score, label[record_key], label[matched], kind, _outcomes(why)))
    wrong.sort(key=lambda w: -w[0])
    clusters: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for record_key, true_id in truth.items():
        clusters[true_id][run.processor.person_of(record_key, run.state) or ""].append(record_key)
    misses = []
    reasons: Counter[str] = Counter()
    for parts in clusters.values():
        if len(parts) < 2:
            continue
        ranked = sorted(parts.values(), key=lambda p: (-len(p), p[0]))
        main = ranked[0]
        for fragment in ranked[1:]:
            best = max(((run.processor.explain_records(a, b, run.state), a, b)
                        for a in fragment[:3] for b in main[:3]), key=lambda t: t[0].score)
            why, a, b = best
            agreeing = sorted(e["attribute"] for e in why.evidence if e["outcome"] in ("agree", "partial")
                              and e["weight"] != 0.0)
            reasons["only " + ("+".join(agreeing) or "nothing") + " in common"] += len(fragment) * len(main)
            misses.append((len(fragment) * len(main), label[a], label[b], round(why.score, 2), _outcomes(why)))
    misses.sort(key=lambda m: (-m[0], m[1]))
    return {
        "wrong_links": len(wrong),
        "worst_false_links": [{"record": a, "linked_to": b, "kind": k, "score": s, "outcomes": o}
                              for s, a, b, k, o in wrong[:limit]],
        "miss_reasons_by_pairs_lost": dict(reasons.most_common(8)),
        "worst_misses": [{"record": a, "closest_in_main_cluster": b, "pairs_lost": n, "score": s, "outcomes": o}
                         for n, a, b, s, o in misses[:limit]],
    }


# --- memory (a child process, so the figure is the resolver's alone) ------------------------------
def _rss_kib() -> dict[str, int]:
    fields = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                fields[line.split(":")[0]] = int(line.split()[1])
    return fields


def resolved_persons(state: Any) -> int:
    from streams.identity.clusters import Graph

    graph = Graph(state)
    return len({graph.person_of_node(digest) for digest in graph.node})


def memory_child(stream: Path) -> dict[str, Any]:
    run = Run()
    run.feed(stream, keep=False)
    rss = _rss_kib()
    return {"events": run.events, "parties": run.parties, "persons": resolved_persons(run.state),
            "distinct_profiles": len(run.state.table("identity.node")),
            "events_per_cpu_s": round(run.events / run.cpu), "rss_mib": round(rss["VmRSS"] / 1024),
            "peak_rss_mib": round(rss["VmHWM"] / 1024)}


def memory(persons: int, seed: int) -> dict[str, Any]:
    stream = prepare(persons, seed)
    result = subprocess.run([sys.executable, "-m", "benchmarks.bench_identity", "--memory-child", str(stream)],
                            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return {"bench": "identity_memory", "county_persons": persons, **json.loads(result.stdout)}


# --- entry points ---------------------------------------------------------------------------------
def run(quick: bool, limit: int = 10) -> list[dict[str, Any]]:
    persons = 20_000 if quick else 200_000
    started = time.perf_counter()
    stream = prepare(persons, SEED)
    prepared = time.perf_counter() - started
    resolver = Run()
    resolver.feed(stream)
    figures, truth = quality(resolver, load_truth(county(persons, SEED)))
    state = resolver.state
    results = [{
        "bench": "identity_quality", "county_persons": persons, "seed": SEED, **figures,
        "resolved_persons": resolved_persons(state),
        "possible_matches": sum(1 for _ in resolver.processor.possible_matches(state)), "prepare_s": round(prepared, 1),
    }, {
        "bench": "identity_speed", "events": resolver.events, "parties": resolver.parties,
        "cpu_s": round(resolver.cpu, 2), "events_per_cpu_s": round(resolver.events / resolver.cpu),
        "parties_per_cpu_s": round(resolver.parties / resolver.cpu),
    }, {"bench": "identity_errors", **errors(resolver, truth, limit)}]
    results.append(memory(100_000 if quick else 1_000_000, SEED))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k-person quality run, 100k-person memory run")
    parser.add_argument("--limit", type=int, default=10, help="errors listed of each kind")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    for result in run(args.quick, args.limit):
        print(json.dumps(result, ensure_ascii=False, default=str, indent=1))
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, pid {os.getpid()}", file=sys.stderr)


if __name__ == "__main__":
    main()
