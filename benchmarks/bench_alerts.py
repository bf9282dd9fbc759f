"""Alert evaluation speed: events/s of AlertsProcessor.handle_resolved on one core, with the default rules.

Generates a county (`connectors.synthetic`), maps every export row with the real agency connectors
(as bench_disputes does), threads the events with the real DisputeProcessor using the true person ids
of truth/persons.csv, builds each EventResolved with the pipeline's own builder, and then times only
`handle_resolved` of the alerts processor, CPU time, in a pass of its own (the threading time is
reported beside it, for scale). Two
input orders: time order (a replay) and agency by agency (one export after the other, the case where
deadlines must wait for the other agencies' feeds). Also reported: alerts raised per rule, alerts
superseded by late follow-ups, and what `tick` raises at the export date.

    .venv/bin/python -m benchmarks.bench_alerts            # 30,000 persons, seed 1
    .venv/bin/python -m benchmarks.bench_alerts --quick    # 5,000 persons
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_disputes import load_events, load_truth, ordered, person_ids
from connectors.synthetic.generator import generate
from runtime.clock import to_millis
from streams.alerts import AlertsProcessor
from streams.disputes import DisputeProcessor
from streams.pipeline import Pipeline
from streams.processor import DictState
from streams.stories import Stories

EXPORT_DATE = datetime(2025, 7, 1, tzinfo=UTC)


def measure(events: list, truth_persons: dict, label: str) -> dict[str, Any]:
    """Thread every event first (timed apart), then time the alerts pass alone over its own state."""
    thread_state, disputes = DictState(), DisputeProcessor()
    prepared = []
    started = time.process_time()
    for key, event in events:
        ids = person_ids(key, event, truth_persons, True)
        threaded = disputes.handle_resolved(event, ids, thread_state)
        placement = next((o.record for o in threaded if o.event_type == "DisputeThreaded"
                          and o.record["event_ref"] == event.event_id), None)
        prepared.append((event, Pipeline._resolved(event, [p or "" for p in ids], placement), threaded))
    thread_s = time.process_time() - started
    state, alerts = DictState(), AlertsProcessor()
    started = time.process_time()
    produced = [alerts.handle_resolved(event, resolved, threaded, state) for event, resolved, threaded in prepared]
    alert_s = time.process_time() - started
    raised: Counter[str] = Counter()
    superseded = 0
    for outputs in produced:
        for out in outputs:
            if out.event_type == "AlertRaised":
                raised[out.record["rule"]] += 1
            elif out.event_type == "AlertResolved":
                superseded += 1
    ticked = Counter(o.record["rule"] for o in alerts.tick(to_millis(EXPORT_DATE), state))
    history = state.table("alerts_history")
    return {"input": label, "events": len(events),
            "alerts_events_per_s": round(len(events) / alert_s) if alert_s else None,
            "alerts_us_per_event": round(alert_s / len(events) * 1e6, 2) if events else None,
            "threading_events_per_s": round(len(events) / thread_s) if thread_s else None,
            "raised": dict(sorted(raised.items())), "superseded_by_late_follow_up": superseded,
            "raised_by_tick_at_export_date": dict(sorted(ticked.items())),
            "persons_with_history": len(history),
            "history_entries": sum(len(v) for v in history.values()),
            "pending_deadlines": sum(1 for d in state.table("alerts_deadlines").values() if d["fired"] is None)}


def through_stories(events: list, truth_persons: dict, label: str) -> dict[str, Any]:
    """The pipeline's way (streams/stories: threads and alerts, a late event replays its story), true ids,
    then a tick at the export date: which alerts are open at the end, and how many were raised and
    retracted on the way."""
    stories, state = Stories(DisputeProcessor(), AlertsProcessor()), DictState()
    outputs = []
    started = time.process_time()
    for key, event in events:
        outputs += stories.handle(event, [p or "" for p in person_ids(key, event, truth_persons, True)], [], state)[0]
    seconds = time.process_time() - started
    outputs += stories.tick(to_millis(EXPORT_DATE), state)
    status: dict[str, str] = {}
    raised: Counter[str] = Counter()
    retracted = 0
    for out in outputs:
        if out.event_type == "AlertRaised":
            status[out.record["alert_id"]] = "open"
            raised[out.record["rule"]] += 1
        elif out.event_type == "AlertResolved":
            status[out.record["alert_id"]] = out.record["resolution"]
            retracted += 1
    open_alerts = sorted(a for a, s in status.items() if s == "open")
    return {"input": f"{label}, through the stories", "events": len(events),
            "events_per_s": round(len(events) / seconds) if seconds else None,
            "raised": dict(sorted(raised.items())), "superseded_or_retracted": retracted,
            "open_after_tick": len(open_alerts), "open_alert_ids": open_alerts}


def run_on(data: Path) -> list[dict[str, Any]]:
    events = load_events(data)
    truth_persons, _ = load_truth(data)
    rows = [measure(ordered(events, "time"), truth_persons, "time order"),
            measure(ordered(events, "agency"), truth_persons, "agency by agency")]
    stories = [through_stories(ordered(events, order), truth_persons, label)
               for label, order in (("time order", "time"), ("agency by agency", "agency"), ("shuffled", "shuffled"))]
    reference = stories[0]["open_alert_ids"]
    for row in stories:
        row["same_open_alerts_as_time_order"] = row.pop("open_alert_ids") == reference
    return rows + stories


def run(quick: bool, persons: int | None = None, seed: int = 1, data: Path | None = None) -> list[dict[str, Any]]:
    if data is not None:
        return run_on(data)
    n = persons or (5000 if quick else 30000)
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        generate(Path(tmp), n, seed)
        results = run_on(Path(tmp))
    for row in results:
        row["generated"] = {"persons": n, "seed": seed}
    return results


def _print(results: Iterable[dict[str, Any]]) -> None:
    for row in results:
        if "open_after_tick" in row:
            print(f"== {row['input']}: {row['events']} events; {row['events_per_s']} events/s (threads + alerts)")
            print(f"   raised {json.dumps(row['raised'])}; superseded or retracted {row['superseded_or_retracted']}; "
                  f"open after a tick at the export date {row['open_after_tick']} "
                  f"(the same alerts as in time order: {row['same_open_alerts_as_time_order']})")
            continue
        print(f"== {row['input']}: {row['events']} events; alerts {row['alerts_events_per_s']} events/s "
              f"({row['alerts_us_per_event']} us/event); threading {row['threading_events_per_s']} events/s")
        print(f"   raised {json.dumps(row['raised'])}; superseded {row['superseded_by_late_follow_up']}; "
              f"tick at export date {json.dumps(row['raised_by_tick_at_export_date'])}")
        print(f"   state: {row['persons_with_history']} persons, {row['history_entries']} history entries, "
              f"{row['pending_deadlines']} pending deadlines")


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
