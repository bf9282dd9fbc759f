"""A small synthetic county run through the real path — generator, the four reference connectors,
the processors and the view projector — with the query API's services over it, for the API, CLI
and browser tests. No tests here.

The views live on this process's chDB engine (tests.support) in a database of their own; the log,
keystore, users and audit trail in a temporary data directory.
"""

from __future__ import annotations

import base64
import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.registry import get_connector
from connectors.sdk.runtime import ConnectorRunner
from connectors.synthetic.generator import generate
from consent.access.consents import publish_consent_event
from consent.access.users import create_demo_users
from consent.privacy.keys import init_keystore
from hub.bootstrap import Hub
from hub.services.context import AppServices
from hub.services.transport import encode_value
from runtime.settings import Settings
from runtime.topics import AGENCIES, agency_topic
from runtime.viewstore import ViewStore, open_view_store
from schemas.wire import TraceContext, default_codec
from streams.envelope import hub_envelope
from tests.support import chdb_data_dir, unique_database

MEDIATION_NUMBER = re.compile(r"（(\d{4})）(.+)调字第(\d+)号")


@dataclass
class County:
    data_dir: Path
    settings: Settings
    hub: Hub
    store: ViewStore
    services: AppServices
    tokens: dict[str, str] = field(repr=False)  # demo user id -> token
    case: str = ""  # the open people's-mediation case the demo mediator works on, numbered as the county does
    committee: str = ""  # the committee that opened it
    parties: list[str] = field(default_factory=list)  # the parties of `case`
    stranger: str = ""  # a person in no case of the mediator

    def close(self) -> None:
        self.store.command(f"DROP DATABASE IF EXISTS `{self.store.database}`")
        self.services.close()
        self.hub.close()  # closes the view store too


def build_county(data_dir: Path, persons: int = 300, seed: int = 7, view_backend: str = "chdb") -> County:
    """A small county through the real path; the views on chDB in-process, or on the same engine
    behind ClickHouse's HTTP interface (`view_backend="clickhouse"`)."""
    from tests.support.viewstore import view_store_settings

    settings = Settings(data_dir=data_dir, clickhouse_database=unique_database("api"))
    init_keystore(data_dir, None)
    generate(data_dir / "county", persons, seed)
    hub = Hub(settings)
    store = open_view_store(view_store_settings(view_backend, settings.clickhouse_database)
                            if view_backend == "clickhouse" else settings.model_copy(update={"data_dir": chdb_data_dir()}))
    store.migrate()
    hub.__dict__["view_store"] = store  # the views on the process's one chDB engine
    for agency in AGENCIES:
        connector = get_connector(agency)
        runner = ConnectorRunner(connector, hub.log, hub.protector, hub.connector_state, progress=False)
        for source in connector.sources(data_dir / "county"):
            runner.run(source)
    hub.process_until_idle()
    hub.project_until_idle()
    services = AppServices.build(settings, hub.log, store, hub.protector)
    from consent.access.users import UserRegistry

    with UserRegistry.open(data_dir) as registry:
        tokens = {t.user_id: t.token for t in create_demo_users(registry)}
    county = County(data_dir, settings, hub, store, services, tokens)
    pair = richest_pair(store)
    # The demo mediator's open case over that pair: a justice-office record, numbered in the county's own
    # series, published on the log and run through the processors and the projector like every other.
    county.case, county.committee = next_mediation_case(data_dir / "county")
    open_mediation_case(county, county.case, pair, committee=county.committee)
    county.parties = sorted(services.cases.case(county.case).parties)
    assert county.parties == sorted(pair), "the new case's parties did not resolve to the same persons"
    county.stranger = store.query_rows(
        "SELECT person_id FROM timeline FINAL WHERE person_id NOT IN {p:Array(String)} "
        "GROUP BY person_id ORDER BY count() DESC, person_id LIMIT 1", {"p": county.parties})[0][0]
    return county


def next_mediation_case(county_dir: Path) -> tuple[str, str]:
    """The next number in the busiest committee's series of the generated mediation export, as the
    committee writes it (`（2025）城关调字第3号`), and the committee."""
    latest: dict[tuple[str, str], int] = {}
    committees: dict[str, str] = {}
    with open(county_dir / "justice" / "mediation_cases.csv", encoding="utf-8", newline="") as export:
        for row in csv.DictReader(export):
            found = MEDIATION_NUMBER.fullmatch(row["调解案件编号"])
            if found:
                key = (found[1], found[2])
                latest[key] = max(latest.get(key, 0), int(found[3]))
                committees[found[2]] = row["调解组织"]
    year, short = max(latest, key=lambda k: (k[0], latest[k], k[1]))
    return f"（{year}）{short}调字第{latest[(year, short)] + 1}号", committees[short]


def open_mediation_case(county: County, case_number: str, persons: list[str], *,
                        committee: str = "示范镇人民调解委员会", settle_now: bool = True) -> None:
    """Publish a MediationCaseOpened of `persons` (their recorded identity, so identity resolution links
    them) on the justice topic, then (unless several are opened at once: `settle` after the last) process,
    project and refresh the services' directories."""
    from connectors.sdk.mapping import event_id_for
    from schemas import loader

    now = datetime.now(UTC) - timedelta(days=1)
    parties = [{**party_of(county.store, county.services, p), "role": "mediation_party", "protection": None}
               for p in persons]
    event_id = event_id_for("justice", f"test-case\x1f{case_number}", 1)
    schema = loader.get("MediationCaseOpened")
    version = default_codec().registry.lookup(schema.full_name, schema.expanded).version
    record = {
        "envelope": {"event_id": event_id, "event_type": "MediationCaseOpened",
                     "source": {"agency": "justice", "office_code": "411730", "office_name": committee,
                                "county_code": "411730"},
                     "source_record_key": f"test-case\x1f{case_number}", "source_record_version": 1,
                     "occurred_at": now, "recorded_at": now, "schema_version": version, "related": [],
                     "restriction": None},
        "mediation_case_number": case_number, "level": "township", "source": "walk_in",
        "dispute_type": "marriage_family", "committee": committee, "summary": None, "parties": parties,
    }
    protected = county.hub.protector.protect(record, schema.expanded, event_id, "justice")
    key = protected["parties"][0]["protection"]["subject_key"].encode()
    value, headers = default_codec().message("MediationCaseOpened", protected, TraceContext.new(event_id))
    county.hub.log.append(agency_topic("justice"), value, key=key, headers=headers)
    if settle_now:
        settle(county)


def settle(county: County) -> None:
    """Process and project what the log holds, and refresh the services' directories."""
    county.hub.process_until_idle()
    county.hub.project_until_idle()
    county.services.refresh()


def richest_pair(store: ViewStore) -> list[str]:
    """Two persons who share a marriage-and-family thread with records at several agencies and a
    domestic-violence record: the story a mediator should see."""
    rows = store.query_rows(
        "SELECT t.person_id, uniqExact(t.agency) AS agencies, countIf(t.event_type IN "
        "('DomesticViolenceWarningIssued', 'ProtectionOrderIssued')) AS dv, count() AS n "
        "FROM timeline AS t FINAL GROUP BY t.person_id ORDER BY dv > 0 DESC, agencies DESC, n DESC, t.person_id "
        "LIMIT 1")
    first = rows[0][0]
    partner = store.query_rows(
        "SELECT person_id FROM timeline FINAL WHERE event_id IN (SELECT event_id FROM timeline FINAL "
        "WHERE person_id = {p:String}) AND person_id != {p:String} GROUP BY person_id "
        "ORDER BY count() DESC, person_id LIMIT 1", {"p": first})
    return [first, partner[0][0]] if partner else [first]


def party_of(store: ViewStore, services: AppServices, person_id: str) -> dict[str, Any]:
    """The person's newest party record in plaintext (for the test to search by; never printed)."""
    from schemas import loader

    row = store.query_dicts(
        "SELECT event_id, party_index, payload FROM timeline FINAL WHERE person_id = {p:String} "
        "ORDER BY occurred_at DESC LIMIT 1", {"p": person_id})[0]
    event_type, record = default_codec().decode(base64.b64decode(row["payload"]))
    revealed = services.protector.reveal(record, loader.get(event_type).expanded, row["event_id"],
                                         {"basic", "contact", "identifier", "sensitive"})
    return revealed["parties"][row["party_index"]]


def search_body(party: dict[str, Any]) -> dict[str, str]:
    """The strongest identifier the record holds, as a search request."""
    if party.get("id_number"):
        return {"id_number": party["id_number"]}
    if party.get("date_of_birth"):
        return {"name": party["name"], "date_of_birth": party["date_of_birth"]}
    return {"phone": party["phone"]}


def grant_consent(county: County, subject: str, consent_id: str, *, purpose: str = "dispute_mediation",
                  role: str = "mediator", classes: tuple[str, ...] = ("identifier", "sensitive")) -> None:
    """The subject's consent, published on the consent topic like any other event."""
    now = datetime.now(UTC)
    record = {"envelope": hub_envelope("ConsentGranted", f"consent\x1f{consent_id}", int(now.timestamp() * 1000)),
              "consent_id": consent_id, "subject": subject, "grantee_role": role, "grantee_organisation": "*",
              "purpose": purpose, "field_classes": list(classes),
              "valid_from": int((now - timedelta(minutes=1)).timestamp() * 1000), "valid_until": None}
    publish_consent_event(county.hub.log, "ConsentGranted", record)


def withdraw_consent(county: County, subject: str, consent_id: str) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    record = {"envelope": hub_envelope("ConsentWithdrawn", f"withdraw\x1f{consent_id}", now),
              "consent_id": consent_id, "subject": subject}
    publish_consent_event(county.hub.log, "ConsentWithdrawn", record)


def headers(token: str, role: str = "mediator", purpose: str = "dispute_mediation",
            case: str | None = None, **extra: str) -> dict[str, str]:
    """The caller's headers, each context value percent-encoded UTF-8 as every client sends it."""
    out = {"Authorization": f"Bearer {token}", "X-JustLink-Role": encode_value(role),
           "X-JustLink-Purpose": encode_value(purpose)}
    if case:
        out["X-JustLink-Case"] = encode_value(case)
    out.update(extra)
    return out


def mediator_headers(county: County, **extra: str) -> dict[str, str]:
    """The demo mediator working on the county's open mediation case."""
    return headers(county.tokens["mediator.demo"], case=county.case, **extra)
