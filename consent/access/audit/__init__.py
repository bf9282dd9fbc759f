"""The audit trail: every access, allowed or denied, in a verifiable log in the manner of Certificate
Transparency — signed, hash-chained AccessAudited records (records.py) in the Confluent wire format,
signed heads (heads.py), the writer (trail.py), the verifier (verify.py) and the audit key with the
trust anchor a DPO pins (keys.py)."""

from consent.access.audit.heads import SignedHead, read_head, sign_head
from consent.access.audit.keys import (
    SIGNING_KEY_FILE,
    AuditError,
    TrustAnchor,
    fingerprint,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    load_signing_key,
    public_key_pem,
)
from consent.access.audit.records import (
    GENESIS_HASH,
    AuditEntry,
    KeystoreReasonCipher,
    ReasonCipher,
    RecordError,
    audit_codec,
    break_glass_uses,
    decode_record,
    view_row,
)
from consent.access.audit.trail import CHECKPOINT_TOPIC, AuditTrail, SealedRecord, read_trail
from consent.access.audit.verify import VerifyResult, verify
from runtime.topics import AUDIT_TOPIC

__all__ = [
    "AUDIT_TOPIC", "CHECKPOINT_TOPIC", "GENESIS_HASH", "SIGNING_KEY_FILE", "AuditEntry", "AuditError",
    "AuditTrail", "KeystoreReasonCipher", "ReasonCipher", "RecordError", "SealedRecord", "SignedHead",
    "TrustAnchor", "VerifyResult", "audit_codec", "break_glass_uses", "decode_record", "fingerprint", "key_id",
    "load_or_create_signing_key", "load_public_key", "load_signing_key", "public_key_pem", "read_head",
    "read_trail", "sign_head", "verify", "view_row",
]
