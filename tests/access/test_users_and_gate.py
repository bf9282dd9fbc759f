"""Users and tokens, and the access gate: a bad token is 401, a refused role, purpose or case is
403, an allowed access is 200 — and every one of them lands in the verified audit trail."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from consent.access.audit import AuditTrail, decode_record, read_trail, verify
from consent.access.cases import InMemoryCaseDirectory
from consent.access.consents import ConsentStore
from consent.access.gate import AccessGate
from consent.access.policy import load_policy
from consent.access.users import DEMO_USERS, AuthError, UserError, UserRegistry, create_demo_users, hash_token
from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture()
def registry(tmp_path):
    with UserRegistry.open(tmp_path, known_roles=load_policy().roles) as users:
        yield users


def test_tokens_are_stored_hashed_and_authenticate(registry, tmp_path):
    registry.create_user("m1", roles=["mediator"], organisation="justice:t", offices=["t-office"], now=NOW)
    issued = registry.issue_token("m1", ttl=timedelta(days=1), now=NOW)
    user = registry.authenticate(issued.token, NOW + timedelta(hours=1))
    assert user.user_id == "m1" and user.roles == ("mediator",) and user.offices == ("t-office",)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("users.db*"))
    assert issued.token.encode() not in raw and hash_token(issued.token).encode() in raw


@pytest.mark.parametrize("case,reason", [("unknown", "unknown_token"), ("expired", "expired_token"),
                                         ("revoked", "revoked_token"), ("disabled", "disabled_user")])
def test_authentication_failures_say_why(registry, case, reason):
    registry.create_user("m1", roles=["mediator"], organisation="justice:t", now=NOW)
    token = registry.issue_token("m1", ttl=timedelta(hours=1), now=NOW).token
    at = NOW
    if case == "unknown":
        token = "jl_not-a-token"
    elif case == "expired":
        at = NOW + timedelta(hours=1)
    elif case == "revoked":
        assert registry.revoke_token(token, NOW)
    else:
        registry.disable("m1", NOW)
    with pytest.raises(AuthError) as caught:
        registry.authenticate(token, at)
    assert caught.value.reason == reason and token not in str(caught.value)


def test_user_validation(registry):
    with pytest.raises(UserError, match="unknown role 'wizard'"):
        registry.create_user("x", roles=["wizard"], organisation="o")
    registry.create_user("x", roles=["judge"], organisation="o")
    with pytest.raises(UserError, match="already exists"):
        registry.create_user("x", roles=["judge"], organisation="o")
    with pytest.raises(UserError, match="no user 'y'"):
        registry.issue_token("y")


def test_demo_users_one_per_role(registry):
    issued = create_demo_users(registry, now=NOW)
    assert {u.roles[0] for u in registry.list_users()} == set(load_policy().roles)
    assert len(issued) == len(DEMO_USERS)
    assert all(registry.authenticate(t.token, NOW).user_id == t.user_id for t in issued)
    assert len(create_demo_users(registry, now=NOW)) == len(DEMO_USERS)  # idempotent users, fresh tokens


def test_users_cli(tmp_path):
    env = {"JUSTLINK_DATA_DIR": str(tmp_path)}

    def run(*args):
        return CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "users", *args], env=env)

    assert run("add", "j1", "--role", "judge", "--org", "court:c", "--office", "c1").exit_code == 0
    assert "unknown role" in run("add", "j2", "--role", "king", "--org", "court:c").output
    token = run("token", "j1", "--days", "2")
    assert token.exit_code == 0 and token.stdout.strip().startswith("jl_")
    listing = run("list")
    assert "j1\tjudge\tcourt:c\tc1\t1 tokens" in listing.output
    assert run("revoke", "--token", token.stdout.strip()).exit_code == 0
    assert "0 tokens" in run("list").output
    assert run("revoke").exit_code != 0


def test_gate_audits_401_403_and_200(tmp_path):
    policy = load_policy()
    cases = InMemoryCaseDirectory()
    cases.apply_event("MediationCaseOpened", {"mediation_case_number": "M-1", "person_ids": ["P1", "P2"]})
    with EmbeddedEventLog(tmp_path / "log.db") as log, UserRegistry.open(tmp_path) as users:
        users.create_user("m1", roles=["mediator"], organisation="justice:t", now=NOW)
        token = users.issue_token("m1", ttl=timedelta(days=1), now=NOW).token
        expired = users.issue_token("m1", ttl=timedelta(minutes=1), now=NOW - timedelta(hours=1)).token
        trail = AuditTrail.open(log, tmp_path)
        gate = AccessGate(policy, users, cases, ConsentStore(), trail, clock=lambda: NOW)
        calls = [
            (dict(token="jl_unknown", role="mediator", purpose="dispute_mediation", case_id="M-1", subject="P1"), 401),
            (dict(token=expired, role="mediator", purpose="dispute_mediation", case_id="M-1", subject="P1"), 401),
            (dict(token=token, role="judge", purpose="adjudication", case_id="M-1", subject="P1"), 403),
            (dict(token=token, role="mediator", purpose="adjudication", case_id="M-1", subject="P1"), 403),
            (dict(token=token, role="mediator", purpose="dispute_mediation", case_id="M-1", subject="P9"), 403),
            (dict(token=token, role="mediator", purpose="dispute_mediation", case_id="M-1", subject="P1"), 200),
        ]
        results = [gate.check(**kwargs) for kwargs, _ in calls]
        assert [r.status for r in results] == [status for _, status in calls]
        trail.close()
        records, checkpoints = read_trail(log)
    assert verify(records, checkpoints, trail.public_key).ok
    bodies = [decode_record(r) for r in records]
    assert [b["status"] for b in bodies] == [status for _, status in calls]
    assert [b["reason"] for b in bodies] == ["unknown_token", "expired_token", "role_not_held", "no_rule",
                                            "not_party", "allowed"]
    assert bodies[1]["user"] == "m1" and bodies[0]["user"] == "(unauthenticated)"
    assert "DomesticViolenceWarningIssued" in bodies[4]["refused_event_types"] and not bodies[4]["event_types"]
    allowed = bodies[-1]
    assert allowed["refused_event_types"] == ["DomesticViolenceWarningIssued", "ProtectionOrderIssued"]
    assert allowed["rule"] == "mediator.dispute_mediation" and allowed["subject"] == "P1"
    assert allowed["field_classes"] == ["basic", "contact"]
    assert allowed["refused_field_classes"] == ["identifier", "sensitive"]
    assert "MediationCaseOpened" in allowed["event_types"] and allowed["legal_basis"].startswith("statute:")
    for raw in records:  # the token never reaches the log
        assert token.encode() not in raw and expired.encode() not in raw


def test_withdrawal_never_deletes_audit_history(tmp_path):
    policy = load_policy()
    cases = InMemoryCaseDirectory()
    cases.apply_event("MediationCaseOpened", {"mediation_case_number": "M-1", "person_ids": ["P1"]})
    consents = ConsentStore()
    consents.apply_event("ConsentGranted", {"consent_id": "C-1", "subject": "P1", "grantee_role": "mediator",
                                            "purpose": "dispute_mediation", "field_classes": ["sensitive"],
                                            "valid_from": NOW - timedelta(days=1)})
    with EmbeddedEventLog(tmp_path / "log.db") as log, UserRegistry.open(tmp_path) as users:
        users.create_user("m1", roles=["mediator"], organisation="justice:t", now=NOW)
        token = users.issue_token("m1", now=NOW).token
        trail = AuditTrail.open(log, tmp_path)
        gate = AccessGate(policy, users, cases, consents, trail, clock=lambda: NOW)
        ask = dict(role="mediator", purpose="dispute_mediation", case_id="M-1", subject="P1")
        first = gate.check(token, **ask)
        consents.apply_event("ConsentWithdrawn", {"consent_id": "C-1", "subject": "P1"})
        second = gate.check(token, **ask)
        trail.close()
        records, checkpoints = read_trail(log)
    assert "sensitive" in first.decision.field_classes and "sensitive" not in second.decision.field_classes
    bodies = [decode_record(r) for r in records]
    assert len(bodies) == 2 and "consent: C-1" in bodies[0]["legal_basis"]
    assert verify(records, checkpoints, trail.public_key).ok


def test_user_db_is_sqlite_in_the_data_dir(tmp_path):
    UserRegistry.open(tmp_path).close()
    tables = {r[0] for r in sqlite3.connect(tmp_path / "users.db").execute("SELECT name FROM sqlite_master")}
    assert {"users", "tokens"} <= tables


def test_break_glass_through_the_gate_is_audited_and_survives_restart(tmp_path):
    from consent.access.audit import break_glass_uses, view_row
    from consent.access.decisions import BreakGlassLedger

    policy = load_policy()
    reason = "Victim called 110: threat of violence tonight"
    with EmbeddedEventLog(tmp_path / "log.db") as log, UserRegistry.open(tmp_path) as users:
        users.create_user("p1", roles=["police_officer"], organisation="police:s", now=NOW)
        token = users.issue_token("p1", now=NOW).token
        trail = AuditTrail.open(log, tmp_path)
        gate = AccessGate(policy, users, InMemoryCaseDirectory(), ConsentStore(), trail, clock=lambda: NOW)
        results = [gate.check(token, role="police_officer", purpose="risk_prevention", subject="P1",
                              break_glass_reason=reason) for _ in range(6)]
        assert [r.status for r in results] == [200] * 5 + [403]
        trail.close()
        records, _ = read_trail(log)
    rows = [view_row(r) for r in records]
    assert rows[0]["break_glass_reason"] and reason not in rows[0]["break_glass_reason"]
    assert rows[-1]["decision"] == "denied" and rows[-1]["rule"] == "police_officer.risk_prevention"
    assert [decode_record(r)["flags"] for r in records][0] == ["break_glass", "notify_dpo"]
    ledger = BreakGlassLedger.from_uses(break_glass_uses(records))  # after a restart
    assert ledger.count("p1", NOW, timedelta(hours=24)) == 5
