"""Everything the query API, the web pages and the `person` / `alerts` / `audit report` commands
need, built once per process: the view store, the protector, the policy and the access gate with
its case directory, consent and restriction stores, the user registry and the audit trail.

The directories the access decision rests on (which cases are open and who their parties are,
consents, restrictions) are in memory and fed from the log by `DirectoryFeed`: it replays the
resolved-event, identity and consent topics from the beginning (never committing, so a restart
rebuilds them) and is drained before every decision, so a consent withdrawn or a case closed on
the log is honoured by the next request.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consent.audit import AuditTrail, KeystoreReasonCipher, break_glass_uses, read_trail
from consent.cases import InMemoryCaseDirectory
from consent.consents import ConsentStore
from consent.decisions import BreakGlassLedger
from consent.gate import AccessGate
from consent.policy import Policy, load_policy
from consent.restrictions import RestrictionStore
from consent.users import UserRegistry
from hub.settings import Settings
from hub.topics import CONSENT_TOPIC, DISPUTES_TOPIC, IDENTITY_TOPIC, RESOLVED_TOPIC
from hub.viewstore import ViewStore, open_view_store
from schemas.wire import AvroCodec, default_codec

if TYPE_CHECKING:
    from consent.protect import Protector
    from hub.eventlog.base import Consumer, EventLog
    from hub.wiring import Hub

log = logging.getLogger("justlink.api")
FEED_GROUP = "justlink.api.directories"  # + a per-process suffix; never committed: every process replays
FEED_TOPICS = (RESOLVED_TOPIC, IDENTITY_TOPIC, CONSENT_TOPIC, DISPUTES_TOPIC)


class DirectoryFeed:
    """Applies the log's case, restriction, merge and consent events to the in-memory directories."""

    def __init__(self, log: EventLog, cases: InMemoryCaseDirectory, restrictions: RestrictionStore,
                 consents: ConsentStore, codec: AvroCodec | None = None) -> None:
        self.cases, self.restrictions, self.consents = cases, restrictions, consents
        self.codec = codec or default_codec()
        self.applied = 0
        self.skipped = 0  # events the directories refused (named in the log, without values)
        # person and thread merges, flattened (retired -> live; live -> retired), so that a history
        # read needs no redirect queries: merges are few, and this feed sees every one of them
        self.person_redirect: dict[str, str] = {}
        self.person_aliases: dict[str, set[str]] = {}
        self.dispute_redirect: dict[str, str] = {}
        self._lock = threading.Lock()
        for topic in FEED_TOPICS:
            log.create_topic(topic)
        # a group of its own, so that two processes (a server and a CLI) never split the partitions
        group = f"{FEED_GROUP}.{uuid.uuid4().hex[:12]}"
        self._consumer: Consumer = log.consumer(group, list(FEED_TOPICS), from_beginning=True)

    def drain(self) -> int:
        """Apply whatever arrived since the last call; returns how many records were read."""
        read = 0
        with self._lock:
            while batch := self._consumer.poll(2000, timeout_s=0.0):
                read += len(batch)
                for record in batch:
                    self._apply(record.topic, record.value)
        return read

    def _apply(self, topic: str, value: bytes) -> None:
        try:
            event_type, fields = self.codec.decode(value)
            if topic == RESOLVED_TOPIC and event_type == "EventResolved":
                source_type, source = self.codec.decode(fields["payload"])
                self.restrictions.apply_event(source_type, source)
                self.cases.apply_event(source_type, {**source, "person_ids": list(fields["person_ids"])})
            elif topic == IDENTITY_TOPIC and event_type == "PersonsMerged":
                self.cases.apply_event(event_type, fields)
                self._merge(self.person_redirect, fields["retired_person_id"], fields["surviving_person_id"],
                            self.person_aliases)
            elif topic == DISPUTES_TOPIC and event_type == "DisputeThreaded" and fields.get("merged_into"):
                self._merge(self.dispute_redirect, fields["dispute_id"], fields["merged_into"])
            elif topic == CONSENT_TOPIC:
                self.consents.apply_event(event_type, fields)
            self.applied += 1
        except (ValueError, KeyError, TypeError) as exc:
            self.skipped += 1
            log.warning("directory feed: %s record skipped: %s", topic, type(exc).__name__)

    @staticmethod
    def _merge(redirect: dict[str, str], retired: str, surviving: str,
               aliases: dict[str, set[str]] | None = None) -> None:
        live = redirect.get(surviving, surviving)
        if retired == live:
            return
        moved = {retired} | {old for old, target in redirect.items() if target == retired}
        for old in moved:
            redirect[old] = live
        if aliases is not None:
            aliases.setdefault(live, set()).update(moved | aliases.pop(retired, set()))
            aliases[live].discard(live)

    def person_ids(self, person_id: str) -> list[str]:
        """The live id of a person, then every retired id merged into it."""
        with self._lock:
            live = self.person_redirect.get(person_id, person_id)
            return [live, *sorted(self.person_aliases.get(live, ()))]

    def live_dispute(self, dispute_id: str) -> str:
        return self.dispute_redirect.get(dispute_id, dispute_id)

    def close(self) -> None:
        self._consumer.close()


@dataclass
class ApiServices:
    settings: Settings
    store: ViewStore
    protector: Protector
    policy: Policy
    gate: AccessGate
    cases: InMemoryCaseDirectory
    consents: ConsentStore
    restrictions: RestrictionStore
    users: UserRegistry
    trail: AuditTrail
    log: EventLog | None = None
    feed: DirectoryFeed | None = None
    reason_cipher: KeystoreReasonCipher | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _owned: list[Any] = field(default_factory=list, repr=False)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def build(cls, settings: Settings, log: EventLog, store: ViewStore, protector: Protector, *,
              policy: Policy | None = None, clock: Callable[[], datetime] | None = None,
              feed: bool = True) -> ApiServices:
        """Assemble the services over parts the caller opened (and closes)."""
        clock = clock or (lambda: datetime.now(UTC))
        policy = policy or load_policy()
        users = UserRegistry.open(settings.data_dir, known_roles=policy.roles)
        cases, consents, restrictions = InMemoryCaseDirectory(), ConsentStore(), RestrictionStore()
        records, _ = read_trail(log)
        ledger = BreakGlassLedger.from_uses(break_glass_uses(records))

        def subject_key_of(person_id: str) -> str | None:
            from hub.api.queries import subject_key_of as lookup

            return lookup(store, person_id)

        cipher = KeystoreReasonCipher(protector.keystore, subject_key_of)
        trail = AuditTrail.open(log, settings.data_dir, cipher=cipher, clock=clock)
        gate = AccessGate(policy, users, cases, consents, trail, ledger, clock=clock)
        directory_feed = DirectoryFeed(log, cases, restrictions, consents) if feed else None
        services = cls(settings, store, protector, policy, gate, cases, consents, restrictions, users, trail,
                       log, directory_feed, cipher, clock)
        services._owned += [users]
        services.refresh()
        return services

    @classmethod
    def for_embedded(cls, hub: Any) -> ApiServices:
        """Services over an opened EmbeddedHub (the one process that holds chDB)."""
        return cls.build(hub.settings, hub.log, hub.view_store, hub.protector)

    @classmethod
    def open(cls, settings: Settings) -> ApiServices:
        """Standalone: open the log, keystore and view store named by the settings (closed by close())."""
        from hub.wiring import Hub

        hub: Hub = Hub(settings)
        store = open_view_store(settings)
        try:
            store.migrate()
            services = cls.build(settings, hub.log, store, hub.protector)
        except BaseException:
            store.close()
            hub.close()
            raise
        services._owned += [store, hub]
        return services

    # -- use -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring the case, consent and restriction directories up to the log's head."""
        if self.feed is not None:
            self.feed.drain()

    def now(self) -> datetime:
        return self.clock()

    def audit_records(self) -> list[bytes]:
        """Every audit record on the log, in chain order (for the DPO's reports)."""
        if self.log is None:
            return []
        records, _ = read_trail(self.log)
        return records

    def close(self) -> None:
        self.trail.close()
        if self.feed is not None:
            self.feed.close()
        for part in reversed(self._owned):
            part.close()
        self._owned.clear()
