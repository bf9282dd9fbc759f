"""A real `justlink serve`, stopped with SIGTERM or SIGINT, signs the head of its audit trail on the
way out: every record it wrote is covered, so a record deleted or forged afterwards is caught."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from consent.access.audit import SignedHead, TrustAnchor, load_public_key, read_trail, verify
from consent.access.users import UserRegistry, create_demo_users
from consent.privacy.keys import init_keystore
from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AUDIT_TOPIC
from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_server_signs_its_head_and_tampering_after_it_fails(tmp_path: Path, sig: int) -> None:
    data = tmp_path / "data"
    init_keystore(data)
    with UserRegistry.open(data) as registry:
        dpo = next(t.token for t in create_demo_users(registry) if t.user_id == "dpo.demo")
    public_key = tmp_path / "audit.pub"  # the DPO pins the key before the first access
    assert CliRunner().invoke(cli, ["--data-dir", str(data), "audit", "export-key", "--out",
                                    str(public_key)]).exit_code == 0

    server = ServeProcess(data)
    try:
        server.wait_ready()
        for _ in range(3):  # refused (unknown token) and allowed calls: every one audited
            assert httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": "Bearer jl_nobody"}).status_code == 401
        report = httpx.get(f"{server.url}/api/v1/audit/report",
                           headers={"Authorization": f"Bearer {dpo}", "X-JustLink-Role": "dpo",
                                    "X-JustLink-Purpose": "audit"})
        assert report.status_code == 200, report.text
        code = server.stop(sig)
    finally:
        server.kill()
    assert code in (0, 128 + sig, -sig) and "Traceback" not in server.output(), server.output()

    with EmbeddedEventLog(data / "log.db") as log:
        records, heads = read_trail(log)
    anchor = TrustAnchor.of_key(load_public_key(public_key.read_bytes()))
    assert len(records) == 4
    last = SignedHead.from_value(heads[-1])
    assert (last.size, last.trigger) == (4, "stop"), "the graceful stop did not sign the head"
    assert verify(records, heads, anchor).ok

    db = sqlite3.connect(data / "log.db", isolation_level=None)
    topic = db.execute("SELECT id FROM topics WHERE name = ?", (AUDIT_TOPIC,)).fetchone()[0]
    db.execute('DELETE FROM records WHERE topic_id = ? AND "offset" = 3', (topic,))  # the DPO's own look
    db.close()
    run = CliRunner().invoke(cli, ["--data-dir", str(data), "audit", "verify", "--public-key", str(public_key)])
    assert run.exit_code == 1 and "first bad record is seq 3" in run.output and "truncated" in run.output, run.output
