"""Dispute threading quality against the synthetic county's ground truth.

Generates a county (`connectors.synthetic`), maps every export row with the real agency
connectors (map + envelope + contract validation, as the connector runtime does; protection
and the event log are skipped because threading reads neither), and feeds the events to the
DisputeProcessor with the TRUE person ids of truth/persons.csv. This isolates threading
quality from identity-resolution quality: the figures are an upper bound for the full
pipeline, whose person errors add to them.

Scores are pairwise over export rows (one row = one event): two rows are a true pair when
truth/disputes.csv gives them the same dispute, a predicted pair when the processor put them on
the same thread. Rows of no dispute (registrations, hand-overs of prisoners sentenced elsewhere)
are in no true pair. Three input orders: time order (a replay), agency by agency (one whole
export after the other, the worst case of a runner that drains topics in turn), and time order
with organisations left unresolved.

    .venv/bin/python -m benchmarks.bench_disputes            # 30,000 persons, seed 1
    .venv/bin/python -m benchmarks.bench_disputes --quick    # 5,000 persons
    .venv/bin/python -m benchmarks.bench_disputes --data DIR # an existing `justlink generate` output

Errors are listed by record key and reason, never with personal data.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.registry import get_connector
from connectors.sdk.mapping import event_id_for
from connectors.sdk.sources import SourceRecord
from connectors.synthetic.generator import generate
from schemas import models
from streams.disputes import DisputeProcessor, rules, thread_of
from streams.processor import DictState, Event, State
from streams.stories import Stories

AGENCIES = ("court", "police", "civil_affairs", "justice")
RowKey = tuple[str, str]   # (agency, record key)


# --- input ----------------------------------------------------------------------------------------
def load_events(data: Path) -> list[tuple[RowKey, Event]]:
    """Every export row as a validated canonical event, through the agency's real connector."""
    recorded = datetime(2025, 7, 1, tzinfo=UTC)
    out: list[tuple[RowKey, Event]] = []
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
                                "occurred_at": m.occurred_at, "recorded_at": recorded, "related": m.related,
                                "restriction": m.restriction}
                    record = models.validate(m.event_type, {**m.fields, "envelope": envelope})
                    out.append(((agency, m.record_key), Event(m.event_type, record)))
    return out


def load_truth(data: Path) -> tuple[dict[RowKey, list[str | None]], dict[RowKey, tuple[str, str]]]:
    persons: dict[RowKey, dict[int, str]] = defaultdict(dict)
    with open(data / "truth" / "persons.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            persons[(row["agency"], row["record_key"])][int(row["party_index"])] = row["true_person_id"]
    disputes: dict[RowKey, tuple[str, str]] = {}
    with open(data / "truth" / "disputes.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            disputes[(row["agency"], row["record_key"])] = (row["true_dispute_id"], row["dispute_type"])
    ordered = {k: [v.get(i) for i in range(1, max(v) + 1)] for k, v in persons.items()}
    return ordered, disputes


def person_ids(key: RowKey, event: Event, truth: dict[RowKey, list[str | None]],
               resolve_orgs: bool) -> list[str | None]:
    """True ids in the order of the event's parties (the connector keeps the export's group order)."""
    ids = truth.get(key, [])
    n = len(event.record.get("parties") or ())
    out = [ids[i] if i < len(ids) else None for i in range(n)]
    return [p if p and (resolve_orgs or not p.startswith("ORG")) else None for p in out]


def ordered(events: list[tuple[RowKey, Event]], order: str) -> list[tuple[RowKey, Event]]:
    def at(item: tuple[RowKey, Event]) -> datetime:
        return item[1].record["envelope"]["occurred_at"]
    if order == "time":
        return sorted(events, key=lambda item: (at(item), item[0]))
    if order == "shuffled":
        return random.Random(1).sample(events, len(events))
    rank = {a: i for i, a in enumerate(AGENCIES)}
    return sorted(events, key=lambda item: (rank[item[0][0]], at(item), item[0]))


# --- scoring --------------------------------------------------------------------------------------
def pairs(n: int) -> int:
    return n * (n - 1) // 2


def score(predicted: dict[RowKey, str | None], truth: dict[RowKey, tuple[str, str]]) -> dict[str, Any]:
    keys = sorted(set(truth) | set(predicted))
    cells: Counter[tuple[str, str]] = Counter()
    pred_sizes: Counter[str] = Counter()
    true_sizes: Counter[str] = Counter()
    for k in keys:
        t = truth.get(k, ("", ""))[0]
        p = predicted.get(k)
        if t and p:
            cells[(p, t)] += 1
        if p:
            pred_sizes[p] += 1
        if t:
            true_sizes[t] += 1
    tp = sum(pairs(n) for n in cells.values())
    pp = sum(pairs(n) for n in pred_sizes.values())
    tt = sum(pairs(n) for n in true_sizes.values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    members_p: dict[str, set[RowKey]] = defaultdict(set)
    members_t: dict[str, set[RowKey]] = defaultdict(set)
    for k in keys:
        if predicted.get(k):
            members_p[predicted[k]].add(k)
        if truth.get(k, ("", ""))[0]:
            members_t[truth[k][0]].add(k)
    exact = sum(1 for m in members_t.values() if m in members_p.values())
    threaded_without_truth = sum(1 for k, p in predicted.items() if p and not truth.get(k, ("", ""))[0])
    unthreaded_with_truth = sum(1 for k in keys if truth.get(k, ("", ""))[0] and not predicted.get(k))
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_pairs": tt, "predicted_pairs": pp, "correct_pairs": tp,
            "true_disputes": len(members_t), "predicted_threads": len(members_p), "exact_threads": exact,
            "rows_threaded_outside_truth": threaded_without_truth,
            "rows_left_unthreaded": unthreaded_with_truth}


# --- error analysis -------------------------------------------------------------------------------
def explain_errors(predicted: dict[RowKey, str | None], truth: dict[RowKey, tuple[str, str]],
                   events: dict[RowKey, Event], ids: dict[RowKey, list[str | None]], state: DictState,
                   limit: int, merged: dict[str, str] | None = None) -> dict[str, Any]:
    """Splits (a true dispute over several threads) and merges (several disputes on one thread),
    worst first, each with the record key where it happens and a reason."""
    placements = state.table("dispute_events")
    by_true: dict[str, list[RowKey]] = defaultdict(list)
    by_pred: dict[str, list[RowKey]] = defaultdict(list)
    for k, (t, _) in truth.items():
        if t:
            by_true[t].append(k)
    for k, p in predicted.items():
        if p:
            by_pred[p].append(k)
    at = {k: e.record["envelope"]["occurred_at"] for k, e in events.items()}

    splits, split_reasons = [], Counter()
    for t, members in by_true.items():
        groups: dict[str | None, list[RowKey]] = defaultdict(list)
        for k in members:
            groups[predicted.get(k)].append(k)
        if len(groups) < 2:
            continue
        ranked = sorted(groups.items(), key=lambda g: (-len(g[1]), min(at[k] for k in g[1])))
        main = ranked[0][1]
        for _, fragment in ranked[1:]:
            first = min(fragment, key=lambda k: at[k])
            reason = _split_reason(first, main, events, ids, truth, placements, at)
            split_reasons[reason] += 1
            lost = len(fragment) * len(main)
            splits.append((lost, t, first, reason))
    merges, merge_reasons = [], Counter()
    for p, members in by_pred.items():
        groups = defaultdict(list)
        for k in members:
            groups[truth.get(k, ("", ""))[0] or f"none:{k}"].append(k)
        if len(groups) < 2:
            continue
        founder = state.table("dispute_threads")[p]["founder"]
        ranked = sorted(groups.items(), key=lambda g: (not any(events[k].event_id == founder for k in g[1]),
                                                        min(at[k] for k in g[1])))
        for _, fragment in ranked[1:]:   # each fragment that is not the founder's: how did it get here?
            links = [k for k in sorted(fragment, key=lambda k: at[k])
                     if placements[events[k].event_id]["method"] == "inferred"
                     or (merged or {}).get(events[k].event_id)]
            first = links[0] if links else min(fragment, key=lambda k: at[k])
            placement = placements.get(events[first].event_id, {})
            method, evidence = placement.get("method", "?"), placement.get("evidence", "")
            if method != "inferred" and (merged or {}).get(events[first].event_id):
                method, evidence = "merged", (merged or {})[events[first].event_id]
            merge_reasons[f"{method}: {_reason_words(evidence)}"] += 1
            merges.append((len(fragment), p, first, f"{method}: {evidence}"))
    splits.sort(key=lambda s: (-s[0], s[2]))
    merges.sort(key=lambda m: (-m[0], m[2]))
    return {
        "split_reasons": dict(split_reasons.most_common()),
        "merge_reasons": dict(merge_reasons.most_common()),
        "worst_splits": [{"record_key": f"{k[0]}:{k[1]}", "true_dispute": t, "pairs_lost": n, "reason": r}
                         for n, t, k, r in splits[:limit]],
        "worst_merges": [{"record_key": f"{k[0]}:{k[1]}", "thread": p, "rows": n, "evidence": e}
                         for n, p, k, e in merges[:limit]],
    }


def _reason_words(evidence: str) -> str:
    if evidence.startswith("shares"):
        return "shared parties, compatible type, within window"
    if evidence.startswith("number"):
        return "a number on the thread"
    if evidence.startswith("record") and "together" in evidence:
        return "a record brought the threads together"
    if evidence.startswith("person merge"):
        return "a person merge linked the threads"
    return evidence.split(" (")[0][:60]


def _split_reason(first: RowKey, main: list[RowKey], events: dict[RowKey, Event], ids: dict[RowKey, list[str | None]],
                  truth: dict[RowKey, tuple[str, str]], placements: dict[str, Any], at: dict[RowKey, Any]) -> str:
    event = events[first]
    rule = rules.rule_of(event.event_type)
    if rule is None or rule.mode == rules.IGNORE:
        return f"{event.event_type} is never threaded"
    if event.event_id not in placements:
        return f"{event.event_type} waits for a referenced record that never came"
    mine = {p for p in ids.get(first, []) if p}
    nearest = min(main, key=lambda k: abs((at[k] - at[first]).total_seconds()))
    days = abs((at[nearest] - at[first]).total_seconds()) / 86400
    theirs = {p for k in main for p in ids.get(k, []) if p}
    shared = mine & theirs
    mine_type = rules.dispute_type_of(event.event_type, event.record)
    main_types = {rules.dispute_type_of(events[k].event_type, events[k].record) for k in main} - {None}
    if not shared:
        return f"{event.event_type}: no resolved party in common"
    if mine_type is not None and main_types and not any(rules.compatible(mine_type, t) for t in main_types):
        return f"{event.event_type}: type {mine_type} vs {'/'.join(sorted(main_types))}"
    if len(shared) == 1 and len(mine) > 1 and len(theirs) > 1:
        return f"{event.event_type}: one shared party of several"
    if days > rules.WINDOW_DAYS:
        return f"{event.event_type}: {int(days // 30) * 30}+ days from the rest"
    return f"{event.event_type}: other ({placements[event.event_id]['method']})"


# --- the benchmark --------------------------------------------------------------------------------
def thread(events: list[tuple[RowKey, Event]], truth_persons: dict[RowKey, list[str | None]],
           resolve_orgs: bool) -> tuple[DictState, dict[RowKey, str | None], float, dict[str, str]]:
    """The pipeline's threading (streams/stories: a late event replays its story) with the true persons;
    organisations count as unresolved, as in the pipeline."""
    proc = DisputeProcessor()
    stories = Stories(proc, None)
    state = DictState()
    started = time.perf_counter()
    outputs = []
    for key, event in events:
        ids = [p or "" for p in person_ids(key, event, truth_persons, resolve_orgs)]
        outputs += stories.handle(event, ids, [], state)[0]
    seconds = time.perf_counter() - started
    predicted = {key: proc.thread_of(event.event_id, state) for key, event in events}
    return state, predicted, seconds, _merge_evidence(outputs)


def _merge_evidence(outputs: list[Any]) -> dict[str, str]:
    return {o.record["event_ref"]: o.record["evidence"] for o in outputs if o.record["method"] == "merged"}


def thread_resolved(events: list[tuple[RowKey, Event]]) -> tuple[State, dict[RowKey, str | None],
                                                                 dict[RowKey, list[str | None]], float,
                                                                 dict[str, str]]:
    """The full chain as streams/pipeline.py runs it: parties protected by the privacy layer, persons
    resolved by the IdentityProcessor, threads by the stories (late events and person merges or splits
    replay their story)."""
    from streams.identity.batch import PartyProtection
    from streams.pipeline import Pipeline

    pipeline, state = Pipeline(), DictState()
    protection = PartyProtection()
    resolved: dict[RowKey, list[str | None]] = {}
    threaded: list[Any] = []
    seconds = 0.0
    try:
        for key, event in events:
            env = event.record["envelope"]
            parties = [{**p, "protection": protection.protect(p, key[0], env["event_id"])}
                       for p in event.record.get("parties") or ()]
            protected = Event(event.event_type, {**event.record, "parties": parties})
            started = time.perf_counter()
            outputs = pipeline.handle(protected, state)
            seconds += time.perf_counter() - started
            threaded += [o for o in outputs if o.event_type == "DisputeThreaded"]
            ids = next(o.record["person_ids"] for o in outputs if o.event_type == "EventResolved")
            resolved[key] = [p or None for p in ids]
    finally:
        protection.close()
    scopes = [pipeline.story_scope(state, county) for county in pipeline.counties(state)]
    scope = scopes[0] if len(scopes) == 1 else state
    predicted = {key: thread_of(event.event_id, scope) for key, event in events}
    return scope, predicted, resolved, seconds, _merge_evidence(threaded)


def run_on(data: Path, limit: int = 12, with_identity: bool = True) -> list[dict[str, Any]]:
    events = load_events(data)
    truth_persons, truth_disputes = load_truth(data)
    by_key = dict(events)
    results = []
    for label, order, resolve_orgs in (("time order", "time", True), ("agency by agency", "agency", True),
                                       ("shuffled", "shuffled", True)):
        state, predicted, seconds, merged = thread(ordered(events, order), truth_persons, resolve_orgs)
        ids = {k: person_ids(k, e, truth_persons, resolve_orgs) for k, e in events}
        row = {"input": label, "rows": len(events), **score(predicted, truth_disputes),
               "events_per_s": round(len(events) / seconds) if seconds else None,
               "persons": "true ids from truth/persons.csv (threading isolated from identity resolution)",
               **explain_errors(predicted, truth_disputes, by_key, ids, state, limit, merged)}
        results.append(row)
    if with_identity:
        for label, order in (("time order", "time"), ("agency by agency", "agency")):
            state, predicted, resolved, seconds, merged = thread_resolved(ordered(events, order))
            row = {"input": f"{label}, persons resolved by the IdentityProcessor (full chain)", "rows": len(events),
                   **score(predicted, truth_disputes),
                   "events_per_s": round(len(events) / seconds) if seconds else None,
                   "persons": "resolved from protected parties (identity errors included)",
                   **explain_errors(predicted, truth_disputes, by_key, resolved, state, limit, merged)}
            results.append(row)
    return results


def run(quick: bool, persons: int | None = None, seed: int = 1, data: Path | None = None) -> list[dict[str, Any]]:
    if data is not None:
        return run_on(data)
    with tempfile.TemporaryDirectory(prefix="bench-disputes-") as tmp:
        generate(Path(tmp), persons or (5000 if quick else 30000), seed)
        results = run_on(Path(tmp))
    for row in results:
        row["generated"] = {"persons": persons or (5000 if quick else 30000), "seed": seed}
    return results


def _print(results: Iterable[dict[str, Any]]) -> None:
    for row in results:
        print(f"\n== {row['input']}: {row['rows']} rows; {row['persons']}")
        print(f"   pairwise precision {row['precision']:.4f}  recall {row['recall']:.4f}  F1 {row['f1']:.4f}"
              f"   (pairs: true {row['true_pairs']}, predicted {row['predicted_pairs']}, "
              f"correct {row['correct_pairs']})")
        print(f"   disputes in truth {row['true_disputes']}, threads {row['predicted_threads']}, "
              f"threads identical to a true dispute {row['exact_threads']}; "
              f"rows threaded outside any true dispute {row['rows_threaded_outside_truth']}, "
              f"dispute rows left unthreaded {row['rows_left_unthreaded']}; {row['events_per_s']} events/s")
        print("   splits by reason:", json.dumps(row["split_reasons"], ensure_ascii=False))
        print("   merges by reason:", json.dumps(row["merge_reasons"], ensure_ascii=False))
        for s in row["worst_splits"]:
            print(f"     split  {s['record_key']}  ({s['true_dispute']}, {s['pairs_lost']} pairs): {s['reason']}")
        for m in row["worst_merges"]:
            print(f"     merge  {m['record_key']}  (thread {m['thread']}, {m['rows']} rows): {m['evidence']}")


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 persons instead of 30,000")
    parser.add_argument("--persons", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="an existing `justlink generate` output")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.quick, args.persons, args.seed, args.data)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    else:
        _print(results)
    return results


if __name__ == "__main__":
    main()
