"""Verifying the audit trail against a pinned trust anchor, and optionally a kept head.

What each check catches (the attack tests in tests/access/test_audit*.py):
- every record: readable, in canonical form, at its place (seq = position), chained to the previous
  hash, its hash recomputed, and its signature valid under the pinned key — so an altered record,
  one re-hashed with everything after it, or a forged one appended with a correct hash, is named
  exactly (a forger has no key);
- every signed head: signed by the pinned key, no larger than the trail (else records were cut
  off after it: truncated), and equal to the chain at its size;
- records but no signed head: the heads were deleted;
- a key replaced or regenerated in the data directory: its signatures are not the pinned key's;
- `against`: a head the DPO or a witness kept earlier (`justlink audit export-head`) must still be
  a prefix of the trail — which catches a tail cut off together with the heads that covered it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from consent.access.audit.heads import SignedHead, read_head
from consent.access.audit.keys import TrustAnchor, fingerprint, key_id
from consent.access.audit.records import (
    GENESIS_HASH,
    RECORD_TYPE,
    AuditCodec,
    RecordError,
    audit_codec,
    record_signing_message,
)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    first_bad_seq: int | None = None
    reason: str = ""
    records: int = 0
    checkpoints: int = 0
    last_head: SignedHead | None = None

    @property
    def empty(self) -> bool:
        return self.ok and self.records == 0


class RecordChecker:
    """Checks records one after another: place, canonical form, chain, hash, key and signature."""

    def __init__(self, public_key: Ed25519PublicKey, codec: AuditCodec | None = None) -> None:
        self.public_key = public_key
        self.key_id = key_id(public_key)
        self.codec = codec or audit_codec()

    def problem(self, value: bytes, expected_seq: int, prev_hash: str) -> tuple[str | None, str | None, int | None]:
        """(problem or None, the record's hash, the seq it claims). The problem names the record
        as `record N` (N = expected_seq) and ends with what happened (altered, removed, ...)."""
        try:
            schema_id, record = self.codec.decode(value, RECORD_TYPE)
        except RecordError as exc:
            return f"record {expected_seq} is unreadable ({exc}) — altered", None, None
        seq = record.get("seq")
        if seq != expected_seq:
            return None, record.get("hash"), seq  # the caller tells removed from reordered
        if self.codec.encode_as(schema_id, record) != value:
            return f"record {seq} is not in canonical form — altered", None, seq
        if record["prev_hash"] != prev_hash:
            return (f"record {seq} does not commit to record {seq - 1}'s hash (prev_hash differs) — altered "
                    "or records removed before it"), None, seq
        if self.codec.chain_hash(schema_id, record) != record["hash"]:
            return f"record {seq}'s content does not match its hash — altered", None, seq
        if record.get("key_id") != self.key_id:
            return (f"record {seq} is signed by key {record.get('key_id') or '(none)'}, not the pinned key "
                    f"{self.key_id} — forged, or the audit key was replaced"), None, seq
        try:
            self.public_key.verify(base64.b64decode(record["signature"], validate=True),
                                   record_signing_message(record["hash"]))
        except (InvalidSignature, ValueError, binascii.Error):
            return (f"record {seq}'s signature does not verify under the pinned key — forged or altered "
                    "(re-hashed without the key)"), None, seq
        return None, record["hash"], seq


def _anchor_key(anchor: TrustAnchor, heads: Sequence[SignedHead | None]) -> Ed25519PublicKey | None:
    if anchor.public_key is not None:
        return anchor.public_key
    for head in heads:
        key = head.embedded_key() if head is not None else None
        if key is not None and anchor.accepts(key):
            return key
    return None


def verify(records: Sequence[bytes], checkpoints: Sequence[bytes], anchor: TrustAnchor | Ed25519PublicKey, *,
           against: SignedHead | None = None) -> VerifyResult:
    """Verify the whole trail (records and signed heads, as on the log) against the trust anchor."""
    if isinstance(anchor, Ed25519PublicKey):
        anchor = TrustAnchor.of_key(anchor)
    heads = [read_head(raw) for raw in checkpoints]
    count = len(records)
    public_key = _anchor_key(anchor, heads)
    if public_key is None:
        if count == 0 and not any(heads) and against is None:
            return VerifyResult(True, None, "no accesses recorded yet: nothing to verify")
        signers = sorted({h.key_id for h in heads if h is not None}) or ["(no signed head)"]
        return VerifyResult(False, 0, f"the trail is signed by key {', '.join(signers)}, not the pinned key "
                            f"{anchor.key_id} ({anchor.source}) — the audit key was replaced or regenerated",
                            count, len(checkpoints))

    checker = RecordChecker(public_key)
    hashes: list[str] = []
    prev = GENESIS_HASH
    for position, value in enumerate(records):
        problem, record_hash, seq = checker.problem(value, position, prev)
        if problem is None and seq != position:
            later = [checker.problem(v, position, prev)[2] for v in records[position + 1:]]
            if position in later:
                problem = (f"record {position} is out of order: found at position {position + 1 + later.index(position)}, "
                           f"and record {seq} in its place — records reordered")
            else:
                problem = f"record {position} is missing (position {position} holds record {seq}) — removed"
        if problem is not None:
            return VerifyResult(False, position, problem, count, len(checkpoints))
        assert record_hash is not None
        hashes.append(record_hash)
        prev = record_hash

    def head_problem(head: SignedHead, what: str) -> VerifyResult | None:
        if not head.signature_valid(public_key):
            return VerifyResult(False, min(head.size, count), f"{what} (size {head.size}) is not signed by the "
                                f"pinned key {anchor.key_id} — forged, or the audit key was replaced",
                                count, len(checkpoints))
        if head.size > count:
            return VerifyResult(False, count, f"the trail ends at record {count - 1} but {what} covers "
                                f"{head.size} records: records {count}..{head.size - 1} were removed — truncated",
                                count, len(checkpoints))
        expected = hashes[head.size - 1] if head.size else GENESIS_HASH
        if expected != head.head_hash:
            return VerifyResult(False, head.size - 1, f"the chain at record {head.size - 1} differs from {what} "
                                "— records rewritten", count, len(checkpoints))
        return None

    last: SignedHead | None = None
    for position, head in enumerate(heads):
        if head is None:
            return VerifyResult(False, last.size if last else 0, f"signed head at position {position} is "
                                "unreadable — altered", count, len(checkpoints))
        failed = head_problem(head, f"the signed head at position {position}")
        if failed is not None:
            return failed
        if last is None or head.size >= last.size:
            last = head
    if count and last is None:
        return VerifyResult(False, 0, f"{count} records and no signed head — the heads were deleted "
                            "(every writer signs one after its first record and on every stop)", count, 0)
    if against is not None:
        failed = head_problem(against, "the kept head")
        if failed is not None:
            return failed
    if count == 0:
        return VerifyResult(True, None, "no accesses recorded yet: nothing to verify", 0, len(checkpoints), last)
    assert last is not None
    kept = f"; consistent with the kept head of {against.size} records" if against is not None else ""
    return VerifyResult(True, None, f"{count} records and {len(checkpoints)} signed heads verified against key "
                        f"{anchor.key_id} (fingerprint {fingerprint(public_key)[:16]}…); the last head covers "
                        f"{last.size} records, {count - last.size} signed records after it{kept}",
                        count, len(checkpoints), last)
