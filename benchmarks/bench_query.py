"""Person-history latency through the query API, with the access check and the audit write on
every call (issue 16.4: p99 <= 1.5x the raw chDB point query of the same run, and <= 10 ms at
1M persons / 5M events in chDB).

World: the timeline, person_aliases and dispute tables filled directly (no processors) with
rows whose payloads are REAL protected events — the wire-format records the four reference
connectors published for a small synthetic county, reused across persons (each row keeps the
event id its payload was encrypted for, so every reveal decrypts for real). Persons have 1–9
records (5 on average) at several agencies. Each timed person is a party of an open mediation
case of the demo mediator; the gate checks the token (users.db), decides, and appends a
hash-chained audit record to the embedded log for every request.

Rows (ms, wall clock over one request; "cpu p99" is the process CPU time (all threads, chDB included)):
- raw chDB point query: `SELECT * FROM timeline WHERE person_id = ?` on a chdb connection of the same
  data path (no FINAL, no client library, results not parsed) — the ceiling the API is held to
  (issue 16: API p99 <= 1.5x this, measured in the same run);
- history SQL only: the project's timeline read (clickhouse-connect, FINAL, rows as dicts);
- history, access layer only: the same with the gate, the audit record and the reveal (PersonAccess.history);
- history via API: GET /api/v1/persons/{id}/history (limit 50) through the ASGI app (FastAPI,
  validation, JSON) with Starlette's TestClient, in process — the target.

Each case runs twice: right after loading (several parts, chDB merging them in background threads of
this process, whose CPU counts), then once `OPTIMIZE TABLE timeline FINAL` has merged them (", parts
merged"): what a hub that has run a while reads.

    .venv/bin/python -m benchmarks.bench_query            # 1M persons, 5M events
    .venv/bin/python -m benchmarks.bench_query --quick    # 20k persons, 100k events
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.latency import LatencyClock, latency_row

STAGES = {"IncidentReported": "incident", "DisputeReferredToMediation": "referral", "MediationCaseOpened": "mediation",
          "MediationConcluded": "mediation_outcome", "CaseFiled": "court_filing", "DocumentsServed": "service",
          "HearingHeld": "hearing", "JudgmentIssued": "judgment", "EnforcementUpdated": "enforcement"}
TIMELINE_COLUMNS = ["person_id", "occurred_at", "event_id", "party_index", "event_type", "agency", "office_code",
                    "stage", "dispute_id", "role", "restricted", "payload", "version", "is_deleted"]


def _row(case: str, clock: LatencyClock, **extra: Any) -> dict[str, Any]:
    return latency_row(case, clock, 3, **extra)


def _payload_pool(data_dir: Path, hub: Any) -> list[dict[str, Any]]:
    """Protected events of a small generated county, as the connectors published them."""
    from connectors.registry import get_connector
    from connectors.sdk.runtime import ConnectorRunner
    from connectors.synthetic.generator import generate
    from runtime.topics import AGENCIES, agency_topic
    from schemas.wire import default_codec

    generate(data_dir / "county", 400, 11)
    codec = default_codec()
    pool = []
    for agency in AGENCIES:
        connector = get_connector(agency)
        runner = ConnectorRunner(connector, hub.log, hub.protector, hub.connector_state, progress=False)
        for source in connector.sources(data_dir / "county"):
            runner.run(source)
        with hub.log.consumer(f"bench.{agency}", [agency_topic(agency)], from_beginning=True) as consumer:
            while batch := consumer.poll(5000, timeout_s=0.0):
                for record in batch:
                    event_type, event = codec.decode(record.value)
                    parties = event.get("parties") or []
                    if not parties:
                        continue
                    envelope = event["envelope"]
                    pool.append({"event_type": event_type, "event_id": envelope["event_id"], "agency": agency,
                                 "office_code": envelope["source"]["office_code"], "role": parties[0]["role"],
                                 "payload": base64.b64encode(record.value).decode("ascii")})
    return pool


def _fill(store: Any, pool: list[dict[str, Any]], persons: int, rng: random.Random) -> int:
    """Timeline rows for `persons` persons, ~5 records each, inserted in column batches."""
    t0 = datetime(2018, 1, 1, tzinfo=UTC)
    written, batch = 0, {c: [] for c in TIMELINE_COLUMNS}
    step = max(1, len(pool) // 9)
    for i in range(persons):
        person = f"P{i:016x}"
        start = rng.randrange(len(pool))
        for j in range(rng.randint(1, 9)):
            e = pool[(start + j * step) % len(pool)]  # distinct events within one person
            row = (person, t0 + timedelta(minutes=rng.randrange(4_000_000)), e["event_id"], 0, e["event_type"],
                   e["agency"], e["office_code"], STAGES.get(e["event_type"], ""),
                   f"D{i // 2:09d}" if e["event_type"] in STAGES else "", e["role"], 0, e["payload"], 1, 0)
            for column, value in zip(TIMELINE_COLUMNS, row, strict=True):
                batch[column].append(value)
        if len(batch["person_id"]) >= 200_000 or i == persons - 1:
            written += store.insert_columns("timeline", [batch[c] for c in TIMELINE_COLUMNS], TIMELINE_COLUMNS)
            batch = {c: [] for c in TIMELINE_COLUMNS}
    return written  # no OPTIMIZE: the parts stay as the inserts left them (FINAL merges them at read time)


def run(quick: bool, *, samples: int | None = None) -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from consent.access.users import UserRegistry
    from consent.privacy.keys import init_keystore
    from hub.api.app import create_app
    from hub.bootstrap import Hub
    from hub.services.access import Caller, PersonAccess
    from hub.services.context import AppServices
    from hub.services.queries import HistoryFilter, history_rows
    from runtime.settings import Settings
    from runtime.viewstore import open_view_store

    persons = 20_000 if quick else 1_000_000
    samples = samples or (500 if quick else 3_000)
    rng = random.Random(3)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="justlink-bench-query-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(data_dir=data_dir, clickhouse_database="bench")
        init_keystore(data_dir, None)
        hub = Hub(settings)
        store = open_view_store(settings)
        store.migrate()
        started = time.perf_counter()
        pool = _payload_pool(data_dir, hub)
        events = _fill(store, pool, persons, rng)
        load_s = round(time.perf_counter() - started, 1)
        services = AppServices.build(settings, hub.log, store, hub.protector)
        with UserRegistry.open(data_dir) as users:
            users.create_user("m1", roles=["mediator"], organisation="justice:bench", offices=["bench"])
            token = users.issue_token("m1").token
        chosen = [f"P{rng.randrange(persons):016x}" for _ in range(samples)]
        for n, person in enumerate(chosen):
            services.cases.apply_event("MediationCaseOpened", {
                "mediation_case_number": f"M{n}", "person_ids": [person],
                "envelope": {"occurred_at": datetime.now(UTC) - timedelta(days=1)}})
        access = PersonAccess(services)
        parts = store.query_rows("SELECT count() FROM system.parts WHERE database = {d:String} AND "
                                 "table = 'timeline' AND active", {"d": store.database})[0][0]
        world = {"persons": persons, "events": events, "payload_pool": len(pool), "timeline_parts": int(parts),
                 "load_s": load_s}

        import chdb

        def timed_rows(after: str) -> list[dict[str, Any]]:
            """The four cases once; `after` names the table's state in the case names ("" right after loading)."""
            parts = store.query_rows("SELECT count() FROM system.parts WHERE database = {d:String} AND "
                                     "table = 'timeline' AND active", {"d": store.database})[0][0]
            here = {**world, "timeline_parts": int(parts)}
            out: list[dict[str, Any]] = []
            raw = chdb.connect(str((data_dir / "views").resolve()))
            raw.query(f"USE {settings.clickhouse_database}", "TabSeparated")
            point = "SELECT * FROM timeline WHERE person_id = {pid:String}"
            for person in chosen[:20]:
                raw.query(point, "Native", params={"pid": person})
            clock = LatencyClock(time.process_time)
            for person in chosen:
                with clock:
                    raw.query(point, "Native", params={"pid": person})
            raw.close()
            out.append(_row("raw chDB point query (the ceiling)" + after, clock, **here))

            clock = LatencyClock(time.process_time)
            for person in chosen:
                with clock:
                    history_rows(store, [person], {e["event_type"] for e in pool}, HistoryFilter())
            out.append(_row("history SQL only" + after, clock, **here))

            clock = LatencyClock(time.process_time)
            for n, person in enumerate(chosen):
                with clock:
                    access.history(Caller(token, "mediator", "dispute_mediation", f"M{n}"), person)
            out.append(_row("history, access layer only (gate + audit + reveal)" + after, clock, **here))

            with TestClient(create_app(services)) as client:
                clock = LatencyClock(time.process_time)
                entries = 0
                for n, person in enumerate(chosen):
                    sent = {"Authorization": f"Bearer {token}", "X-JustLink-Role": "mediator",
                            "X-JustLink-Purpose": "dispute_mediation", "X-JustLink-Case": f"M{n}"}
                    with clock:
                        response = client.get(f"/api/v1/persons/{person}/history", headers=sent)
                    assert response.status_code == 200, response.text
                    entries += len(response.json()["entries"])
            api = _row("history via API (target p99 <= 1.5x raw, <= 10 ms at 1M)" + after, clock,
                       avg_entries=round(entries / samples, 1), audit_records=services.trail.next_seq, **here)
            api["p99_vs_raw"] = round(api["p99_ms"] / out[0]["p99_ms"], 2)
            api["p50_vs_raw"] = round(api["p50_ms"] / out[0]["p50_ms"], 2)
            api["cpu_p50_vs_raw"] = round(api["cpu_p50_ms"] / out[0]["cpu_p50_ms"], 2)
            out.append(api)
            return out

        # right after loading, chDB merges the inserted parts in background threads of this process: their
        # CPU and their competition for the cores land in these figures. Then once the parts are merged
        # (what a hub that has run a while holds; OPTIMIZE ... FINAL waits for it).
        rows += timed_rows("")
        started = time.perf_counter()
        store.command("OPTIMIZE TABLE timeline FINAL")
        world["optimize_s"] = round(time.perf_counter() - started, 1)
        rows += timed_rows(", parts merged")
        services.close()
        store.close()
        hub.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k persons / 100k events instead of 1M / 5M")
    parser.add_argument("--samples", type=int, default=None, help="timed requests per row")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    args = parser.parse_args(argv)
    rows = run(args.quick, samples=args.samples)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    world = rows[0]
    print(f"{world['persons']:,} persons, {world['events']:,} timeline rows (payloads from {world['payload_pool']:,} "
          f"real protected events), loaded in {world['load_s']} s")
    width = max(len(row["case"]) for row in rows)
    print(f"{'case':<{width}}  {'n':>6}  {'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}  {'cpu p50 ms':>10}  {'cpu p99 ms':>10}")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['n']:>6}  {row['p50_ms']:>8.3f}  {row['p99_ms']:>8.3f}  "
              f"{row['max_ms']:>8.3f}  {row['cpu_p50_ms']:>10.3f}  {row['cpu_p99_ms']:>10.3f}")
    print(f"parts merged by OPTIMIZE TABLE timeline FINAL in {rows[-1].get('optimize_s')} s")
    for api in (rows[3], rows[-1]):
        print(f"{api['case']}, {api['timeline_parts']} parts: API / raw chDB point query: wall p50 "
              f"{api['p50_vs_raw']}x, p99 {api['p99_vs_raw']}x (target p99 <= 1.5x); CPU p50 {api['cpu_p50_vs_raw']}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
