"""Everything the query API, the web pages and the `person` / `alerts` / `audit report` commands
need, built once per process: the view store, the protector, the policy and the access gate with
its case directory, consent and restriction stores, the user registry and the audit trail.
The directories the access decision rests on are fed from the log (hub/services/directory.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consent.access.audit import AuditTrail, KeystoreReasonCipher, break_glass_uses, read_trail
from consent.access.caller_values import ValueHasher
from consent.access.cases import InMemoryCaseDirectory
from consent.access.consents import ConsentStore
from consent.access.decisions import BreakGlassLedger
from consent.access.gate import AccessGate
from consent.access.party_codes import PartyCodes
from consent.access.policy import Policy, load_policy
from consent.access.restrictions import RestrictionStore
from consent.access.users import UserRegistry
from consent.privacy.blind_index import derive_subkey
from hub.services.directory import DirectoryFeed
from runtime.datadir import PartLock, claim
from runtime.settings import Settings
from runtime.viewstore import ViewStore, open_view_store

if TYPE_CHECKING:
    from consent.privacy.protect import Protector
    from hub.bootstrap import Hub
    from runtime.eventlog.base import EventLog

log = logging.getLogger("justlink.api")
AUDIT_VALUE_KEY = "audit-caller-values"  # label of the key that hashes withheld caller values
PARTY_CODE_KEY = "party-access-codes"  # label of the key that hashes parties' access codes and sessions


@dataclass
class AppServices:
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
    party_codes: PartyCodes | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _owned: list[Any] = field(default_factory=list, repr=False)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def build(cls, settings: Settings, log: EventLog, store: ViewStore, protector: Protector, *,
              policy: Policy | None = None, clock: Callable[[], datetime] | None = None,
              feed: bool = True) -> AppServices:
        """Assemble the services over parts the caller opened (and closes)."""
        clock = clock or (lambda: datetime.now(UTC))
        policy = policy or load_policy()
        audit_claim = claim(settings.data_dir, "audit")  # one writer of the audit chain per data directory
        try:
            users = UserRegistry.open(settings.data_dir, known_roles=policy.roles)
        except BaseException:
            audit_claim.release()
            raise
        cases = InMemoryCaseDirectory(policy.case_open_days)
        consents, restrictions = ConsentStore(), RestrictionStore()
        records, _ = read_trail(log)
        ledger = BreakGlassLedger.from_uses(break_glass_uses(records))

        def subject_key_of(person_id: str) -> str | None:
            from hub.services.queries import subject_key_of as lookup

            return lookup(store, person_id)

        cipher = KeystoreReasonCipher(protector.keystore, subject_key_of)
        try:
            trail = AuditTrail.open(log, settings.data_dir, cipher=cipher, clock=clock,
                                    checkpoint_every=settings.audit_checkpoint_every,
                                    checkpoint_interval_s=settings.audit_checkpoint_interval_s)
        except BaseException:
            users.close()
            audit_claim.release()
            raise
        gate = AccessGate(policy, users, cases, consents, trail, ledger, clock=clock,
                          hasher=ValueHasher(derive_subkey(protector.keystore.matching_key(), AUDIT_VALUE_KEY)))
        directory_feed = DirectoryFeed(log, cases, restrictions, consents) if feed else None
        codes = PartyCodes.open(settings.data_dir, derive_subkey(protector.keystore.matching_key(), PARTY_CODE_KEY))
        services = cls(settings, store, protector, policy, gate, cases, consents, restrictions, users, trail,
                       log, directory_feed, cipher, codes, clock)
        services._owned += [audit_claim, users, codes]
        services.refresh()
        return services

    @classmethod
    def for_embedded(cls, hub: Any) -> AppServices:
        """Services over an opened Hub (the one process that holds chDB)."""
        return cls.build(hub.settings, hub.log, hub.view_store, hub.protector)

    @classmethod
    def open(cls, settings: Settings) -> AppServices:
        """Standalone: open the log, keystore and view store named by the settings (closed by close())."""
        from hub.bootstrap import Hub

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
            if isinstance(part, PartLock):
                part.release()
            else:
                part.close()
        self._owned.clear()
