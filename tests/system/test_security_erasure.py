"""Erasure a DPO can stand behind, reaching every copy: `justlink erase` needs a DPO's token, names the
person before it asks, records who decided, why and for which request in the audit trail; afterwards
the person cannot be found by ID number, their timeline is empty, the other parties' records stay — and
not one field of theirs can be decrypted anywhere in the data directory (log, dead letters, views, audit
trail, processor state)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from connectors.sdk.deadletter import read_dead_letters
from consent.access.audit import decode_record, read_trail
from consent.privacy.fields import parse_header
from consent.privacy.keys.base import KeyErased
from consent.privacy.sealing import unseal
from hub.api.app import create_app
from hub.cli.main import cli
from hub.services.access import AccessRefused, Caller, PersonAccess
from runtime.eventlog.base import TopicPartition
from runtime.topics import AGENCIES, dead_letter_topic
from tests.support import chdb_http_server
from tests.support.api_county import County, build_county, headers, party_of, search_body

REQUEST = "request:（2025）清源个保删字第1号"
TOKEN = re.compile(rb"jle1\.[A-Za-z0-9_-]{40,}")
ALL_CLASSES = {"basic", "contact", "identifier", "sensitive"}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    county = build_county(tmp_path_factory.mktemp("erasure"), persons=120, seed=23)
    yield county
    county.close()


def _run(county: County, *args: str, token: str, stdin: str | None = None) -> Result:
    env = {"JUSTLINK_DATA_DIR": str(county.data_dir), "JUSTLINK_VIEW_BACKEND": "clickhouse",
           "JUSTLINK_CLICKHOUSE_PORT": str(chdb_http_server().port),
           "JUSTLINK_CLICKHOUSE_DATABASE": county.store.database, "JUSTLINK_MASTER_KEY": None,
           "JUSTLINK_TOKEN": token}
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


def _log_values(county: County) -> Iterator[tuple[str, bytes]]:
    log = county.hub.log
    for topic in log.topics():
        with log.consumer(f"scan.{topic}", [topic], from_beginning=True) as consumer:
            for partition in range(max(1, len(log.end_offsets(topic)))):
                consumer.seek(TopicPartition(topic, partition), 0)
            while batch := consumer.poll(5000, timeout_s=0.0):
                for record in batch:
                    yield topic, record.value


def _tokens(county: County) -> Iterator[tuple[str, bytes]]:
    """Every protected-field token in the data directory, with where it was found: each record of each
    topic (agency events, resolved events, dead letters, audit, ...), the views' payloads, the processor
    state and the other files of the data directory."""
    for topic, value in _log_values(county):
        for token in TOKEN.findall(value):
            yield f"log:{topic}", token
    for (payload,) in county.store.query_rows("SELECT payload FROM timeline"):  # every row, even replaced ones
        for token in TOKEN.findall(base64.b64decode(payload)):
            yield "views:timeline", token
    for (reason,) in county.store.query_rows("SELECT break_glass_reason FROM audit_log"):
        for token in TOKEN.findall(reason.encode()):
            yield "views:audit_log", token
    for path in county.data_dir.rglob("*"):
        if path.is_file() and path.name not in ("log.db", "log.db-wal") and "county" not in path.parts:
            for token in TOKEN.findall(path.read_bytes()):
                yield f"file:{path.relative_to(county.data_dir)}", token


def _decryptable(county: County, keys: set[str]) -> dict[str, int]:
    """Where tokens under the person's data keys still have a key: {place: count}."""
    keystore = county.hub.protector.keystore
    found: dict[str, int] = {}
    for place, token in _tokens(county):
        header = parse_header(token.decode())
        if header.subject_key not in keys:
            continue
        try:
            keystore.dek(header.subject_key, header.dek_version)
        except KeyErased:
            continue
        found[place] = found.get(place, 0) + 1
    return found


def _dead_letters_about(county: County, secrets: set[str]) -> int:
    """Connector dead letters whose original (unsealed, when it still can be) holds one of the person's
    identifiers."""
    count = 0
    for agency in AGENCIES:
        for letter in read_dead_letters(county.hub.log, [dead_letter_topic(agency)], group="scan-dead", wait_s=0):
            original = unseal(county.hub.protector, letter.sealed, letter.dead_letter_id.encode())
            if original is not None:
                text = original.decode(letter.original_meta.get("encoding", "utf-8"), "replace")
                count += any(secret in text for secret in secrets)
    return count


def _subject(county: County) -> tuple[str, str, dict]:
    """A party of the mediator's case whose partner shares events with them: (person, partner, record)."""
    for person in county.parties:
        party = party_of(county.store, county.services, person)
        if party.get("id_number"):
            return person, next(p for p in county.parties if p != person), party
    raise AssertionError("no party with an ID number")


def test_erasure_by_a_dpo_reaches_every_copy(county: County) -> None:
    person, partner, party = _subject(county)
    secrets = {v for k, v in party.items() if k in ("name", "id_number", "phone") and v}
    dpo, mediator = county.tokens["dpo.demo"], county.tokens["mediator.demo"]
    client = TestClient(create_app(county.services))
    # a break-glass look at the person: its written reason is sealed under the person's key
    glass = headers(county.tokens["police.demo"], role="police_officer", purpose="risk_prevention", case=None,
                    **{"X-JustLink-Break-Glass": quote(f"嫌疑人持刀威胁，现场紧急核查{party['name']}的家暴前科与保护令")})
    assert client.get(f"/api/v1/persons/{person}/history", headers=glass).status_code == 200
    assert client.post("/api/v1/persons/search", json=search_body(party), headers=headers(mediator, case=county.case)).json()["results"]
    county.hub.project_until_idle()
    keys = {str(k) for (k,) in county.store.query_rows(
        "SELECT DISTINCT subject_key FROM person_records FINAL WHERE person_id = {p:String}", {"p": person}) if k}
    before = _decryptable(county, keys)
    assert keys and sum(before.values()) > 0 and any(p.startswith("log:justlink.audit") for p in before), before
    # rows of theirs the connectors rejected (a common name alone is in others' records too: the person's ID
    # number and phone identify them)
    identifying = {party["id_number"], *([party["phone"]] if party.get("phone") else [])}
    dead_before = _dead_letters_about(county, identifying)

    # not a DPO, or no request named: refused (and audited)
    refused = _run(county, "erase", "--person", person, "--request", REQUEST, "--reason", "subject_request",
                   "--yes", token=mediator)
    assert refused.exit_code == 1 and "403 role_not_held" in refused.output
    unnamed = _run(county, "erase", "--person", person, "--request", "（2025）城关调字第2号", "--reason",
                   "subject_request", "--yes", token=dpo)
    assert unnamed.exit_code == 1 and "needs_oversight_reference" in unnamed.output
    # the person is named before the question; declining destroys nothing
    declined = _run(county, "erase", "--person", person, "--request", REQUEST, "--reason", "subject_request",
                    token=dpo, stdin="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert declined.output.index(party["name"]) < declined.output.index("Destroy every data key")
    assert party["id_number"] not in declined.output and party["id_number"][-4:] in declined.output
    assert _decryptable(county, keys) == before

    erased = _run(county, "erase", "--person", person, "--request", REQUEST, "--reason", "subject_request",
                  token=dpo, stdin="y\n")
    assert erased.exit_code == 0, erased.output
    county.hub.project_until_idle()
    county.services.refresh()

    trail = [decode_record(r) for r in read_trail(county.hub.log)[0]]
    done = [a for a in trail if "erasure" in a["flags"]]
    assert [(a["user"], a["case_id"], a["subject"], a["reason"]) for a in done] == \
        [("dpo.demo", REQUEST, person, "erased_subject_request")]
    assert _decryptable(county, keys) == {}, "a field of the erased person can still be decrypted"
    assert _dead_letters_about(county, identifying) == 0, f"{dead_before} dead letters named the person; some still decrypt"

    # lookups and views: gone for the person, kept for the other party
    assert client.post("/api/v1/persons/search", json=search_body(party), headers=headers(mediator, case=county.case)).json()["results"] == []
    access = PersonAccess(county.services)
    caller = Caller(mediator, "mediator", "dispute_mediation", county.case)
    try:  # no longer a party of the case: refused; or, where a case still names them, nothing to read
        assert access.history(caller, person)["entries"] == []
    except AccessRefused as gone:
        assert gone.reason == "not_party"
    kept = access.history(caller, partner)
    assert kept["entries"], "the other party's records went too"
    shown = str(kept)
    assert not any(secret in shown for secret in secrets)
    report = _run(county, "audit", "report", "--section", "accesses", "--csv", "-", token=dpo)
    assert REQUEST in report.output


def test_rows_of_an_erased_person_never_come_back_on_a_rebuild(county: County, tmp_path: Path) -> None:
    erased = [str(p) for (p,) in county.store.query_rows("SELECT person_id FROM erasures FINAL")]
    assert erased, "run after the erasure test"
    from streams.runners.views import run_projector
    from streams.views.projector import ViewProjector

    for table in ("timeline", "person_lookup", "person_records"):
        county.store.command(f"TRUNCATE TABLE {table}")
    run_projector(county.hub.log, ViewProjector(county.store), group=f"rebuild-{tmp_path.name}")
    rows = county.store.query_rows("SELECT count() FROM timeline FINAL WHERE person_id IN {p:Array(String)} "
                                   "AND is_deleted = 0", {"p": erased})
    assert rows[0][0] == 0


def test_erasure_through_the_api_and_again_after_a_keystore_backup_is_restored(county: County, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    person = county.stranger
    request = "complaint:（2025）清源投诉第7号"
    backup = tmp_path / "backup"
    backup.mkdir()
    with sqlite3.connect(county.data_dir / "keystore.db") as live, sqlite3.connect(backup / "keystore.db") as copy:
        live.backup(copy)  # the operator's nightly backup, before the erasure
    shutil.copy(county.data_dir / "master.key", backup / "master.key")

    client = TestClient(create_app(county.services))
    dpo = headers(county.tokens["dpo.demo"], role="dpo", purpose="erasure", case=None)
    assert client.get(f"/api/v1/persons/{person}/erasure", params={"request": request},
                      headers=headers(county.tokens["mediator.demo"], purpose="erasure", case=None)).status_code == 403
    preview = client.get(f"/api/v1/persons/{person}/erasure", params={"request": request}, headers=dpo)
    assert preview.status_code == 200 and preview.json()["person_id"] == person and preview.json()["records"] > 0
    done = client.post(f"/api/v1/persons/{person}/erasure", json={"reason": "court_order", "request": request},
                       headers=dpo)
    assert done.status_code == 200, done.text
    keys = set(done.json()["subject_keys"])
    county.hub.project_until_idle()
    assert _decryptable(county, keys) == {}
    assert PersonAccess(county.services).history(
        Caller(county.tokens["judge.demo"], "judge", "adjudication", None, "紧急核查：当事人涉嫌持刀伤人，须立即查阅前科"),
        person)["entries"] == []

    with sqlite3.connect(backup / "log.db") as copy, sqlite3.connect(county.data_dir / "log.db") as live:
        live.backup(copy)
    from consent.privacy.keys import open_keystore

    restored = open_keystore(backup)
    assert restored.dek(sorted(keys)[0], 1)  # the backup un-erases ...
    restored.close()
    run = CliRunner().invoke(cli, ["keys", "reapply-erasures"], env={"JUSTLINK_DATA_DIR": str(backup),
                                                                     "JUSTLINK_MASTER_KEY": None})
    assert run.exit_code == 0 and "destroyed again" in run.output, run.output
    restored = open_keystore(backup)
    for key in keys:  # ... until the erasures on the log are applied again
        with pytest.raises(KeyErased):
            restored.dek(key, 1)
    restored.close()
