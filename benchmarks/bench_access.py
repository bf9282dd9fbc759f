"""Cost of an access decision and its audit record, per request (target: <= 2 ms p99 for
decision + audit write).

World: 10k open cases (mediation, court, correction, incident, legal aid) with two parties
each, consents for a quarter of the people, the packaged policy. Requests mix roles, purposes
and outcomes (about 60 % allowed, the rest refused: not a party, closed, no rule, no consent).
The audit trail is on the real embedded event log (SQLite WAL) and signs a checkpoint every
100 records, inside the timed calls.

Rows (latency in ms, wall clock; "cpu p99" is this thread's CPU time, which on a shared
machine separates our cost from waiting for a core):
- decide: the decision alone;
- decide + audit append: the target;
- decide + audit append (fsync): the log synced at every commit (survives power loss);
- gate (token + decide + audit): what the query API pays, token lookup in users.db included.

    .venv/bin/python -m benchmarks.bench_access            # 20k requests per row
    .venv/bin/python -m benchmarks.bench_access --quick    # 3k requests per row
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.latency import LatencyClock, latency_row
from consent.access.audit import AuditEntry, AuditTrail
from consent.access.cases import InMemoryCaseDirectory
from consent.access.consents import ConsentStore
from consent.access.decisions import AccessRequest, BreakGlassLedger, decide
from consent.access.gate import AccessGate
from consent.access.policy import load_policy
from consent.access.users import UserRegistry
from runtime.eventlog.embedded import EmbeddedEventLog

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
KINDS = [  # opening event, closing event, number field, role, purpose
    ("MediationCaseOpened", "MediationConcluded", "mediation_case_number", "mediator", "dispute_mediation"),
    ("CaseFiled", "JudgmentIssued", "case_number", "judge", "adjudication"),
    ("CommunityCorrectionStarted", "CommunityCorrectionEnded", "correction_number", "correction_officer",
     "community_correction_supervision"),
    ("IncidentReported", "IncidentClosed", "incident_number", "police_officer", "risk_prevention"),
    ("LegalAidApplied", "LegalAidClosed", "aid_number", "legal_aid_officer", "legal_aid_eligibility"),
]


def _world(rng: random.Random, cases_n: int) -> tuple[InMemoryCaseDirectory, ConsentStore, list[AccessRequest]]:
    cases, consents = InMemoryCaseDirectory(), ConsentStore()
    requests = []
    for i in range(cases_n):
        opening, closing, number, role, purpose = KINDS[i % len(KINDS)]
        parties = [f"P{2 * i}", f"P{2 * i + 1}"]
        cases.apply_event(opening, {number: f"K{i}", "person_ids": parties, "supervising_office": "o1",
                                    "envelope": {"occurred_at": NOW - timedelta(days=5)}})
        if i % 4 == 0:
            consents.apply_event("ConsentGranted", {"consent_id": f"C{i}", "subject": parties[0],
                                                    "grantee_role": role, "purpose": purpose,
                                                    "field_classes": ["identifier", "sensitive", "basic", "contact"],
                                                    "valid_from": NOW - timedelta(days=1)})
        if i % 10 == 9:
            cases.apply_event(closing, {number: f"K{i}", "envelope": {"occurred_at": NOW - timedelta(days=1)}})
        subject = parties[0] if i % 7 else "P-stranger"
        asked_role, asked_purpose = (role, purpose) if i % 11 else ("integrator", purpose)
        requests.append(AccessRequest(f"u{i % 50}", asked_role, "org", asked_purpose, f"K{i}", subject,
                                      offices=("o1",)))
    rng.shuffle(requests)
    return cases, consents, requests


def _row(case: str, clock: LatencyClock, **extra: Any) -> dict[str, Any]:
    return latency_row(case, clock, 4, **extra)


def run(quick: bool) -> list[dict[str, Any]]:
    n = 3_000 if quick else 20_000
    rng = random.Random(7)
    policy = load_policy()
    cases, consents, requests = _world(rng, 10_000)
    requests = (requests * (n // len(requests) + 1))[:n]
    rows = []

    clock = LatencyClock(time.thread_time)
    for request in requests:
        with clock:
            decide(request, policy, cases, consents, NOW, break_glass=BreakGlassLedger())
    allowed = sum(decide(r, policy, cases, consents, NOW).allowed for r in requests) / len(requests)
    rows.append(_row("decide", clock, allowed_share=round(allowed, 2)))

    for label, fsync in (("decide + audit append", False), ("decide + audit append (fsync)", True)):
        with tempfile.TemporaryDirectory() as tmp, EmbeddedEventLog(Path(tmp) / "log.db", fsync=fsync) as log:
            trail = AuditTrail.open(log, tmp, checkpoint_every=100)
            ledger = BreakGlassLedger()
            clock = LatencyClock(time.thread_time)
            for request in requests[: n if not fsync else n // 4]:
                with clock:
                    decision = decide(request, policy, cases, consents, NOW, break_glass=ledger)
                    trail.append(AuditEntry.from_decision(request, decision, NOW))
            trail.close()
            rows.append(_row(label, clock, checkpoint_every=100))

    with tempfile.TemporaryDirectory() as tmp, EmbeddedEventLog(Path(tmp) / "log.db") as log, \
            UserRegistry.open(tmp) as users:
        tokens = {}
        for role in {r.role for r in requests}:
            users.create_user(role, roles=[role], organisation="org", offices=["o1"])
            tokens[role] = users.issue_token(role, now=NOW).token
        gate = AccessGate(policy, users, cases, consents, AuditTrail.open(log, tmp), clock=lambda: NOW)
        clock = LatencyClock(time.thread_time)
        for request in requests:
            with clock:
                gate.check(tokens[request.role], role=request.role, purpose=request.purpose,
                           case_id=request.case_id, subject=request.subject)
        gate.trail.close()
        rows.append(_row("gate (token + decide + audit)", clock))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3k requests per row instead of 20k")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    width = max(len(row["case"]) for row in rows)
    print(f"{'case':<{width}}  {'n':>6}  {'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}  {'cpu p99 ms':>10}")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['n']:>6}  {row['p50_ms']:>8.3f}  {row['p99_ms']:>8.3f}  "
              f"{row['max_ms']:>8.3f}  {row['cpu_p99_ms']:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
