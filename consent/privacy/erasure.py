"""Erasure of a data subject by crypto-shredding: destroy the DEKs, never rewrite the log.

Every protected value of a party is encrypted under the DEK named by its ``subject_key``
(PartyProtection.subject_key, also in each token's header). One resolved person usually has several
subject keys: one per agency, and more when records carried different strongest identifiers (an ID
number in one, only name + date of birth in another) or none (a key per record). The identity
processor's persons view lists every subject key linked to a person; erasing the person is erasing
that list: ``erase_subjects(keystore, persons_view.subject_keys(person_id), ...)``.

Irreversible. Audited: one structured log line (logger ``justlink.audit``) without personal data
(subject keys are pseudonymous ids) and a receipt for the caller; the audit log routes it later.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from consent.privacy.keys.base import Keystore

audit_log = logging.getLogger("justlink.audit")
_SUBJECT_KEY = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    receipt_id: str
    erased_at: str
    requested_by: str
    subject_keys: list[str]
    destroyed: list[str]
    already_erased: list[str]
    not_found: list[str]
    dek_versions_destroyed: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def validate_subject_keys(subject_keys: Iterable[str]) -> list[str]:
    keys = [key.strip().lower() for key in subject_keys]
    bad = [key for key in keys if not _SUBJECT_KEY.match(key)]
    if bad:
        raise ValueError(f"not subject keys (expected 32 hex characters): {', '.join(bad)}")
    if not keys:
        raise ValueError("no subject keys given")
    return list(dict.fromkeys(keys))


def erase_subjects(keystore: Keystore, subject_keys: Iterable[str], *, requested_by: str) -> ErasureReceipt:
    """Destroy every DEK version of the given subject keys; return (and log) a receipt."""
    keys = validate_subject_keys(subject_keys)
    result = keystore.destroy_subjects(keys)
    receipt = ErasureReceipt(
        receipt_id=str(uuid.uuid4()),
        erased_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        requested_by=requested_by,
        subject_keys=keys,
        destroyed=result.destroyed,
        already_erased=result.already_erased,
        not_found=result.not_found,
        dek_versions_destroyed=result.dek_versions_destroyed,
    )
    audit_log.info(json.dumps({"event": "subject_keys_erased", **asdict(receipt)}))
    return receipt
