"""Signed heads of the audit trail (checkpoints, in the manner of Certificate Transparency).

A head says "the trail has `size` records, and the chain hash of record size-1 is `head_hash`",
signed with the audit key. We chose the hash-chain head over a Merkle tree root: the head hash of
size n commits to all n records just as a root would, and a verifier here always reads the whole
trail, so the Merkle tree's short consistency proofs would buy nothing; checking a kept head is
recomputing the chain up to its size and comparing.

Signed message (UTF-8, LF-separated, no trailing LF):

    justlink.audit/head
    <origin>            the audit topic's name
    <size>              decimal
    <head_hash>         64 hex (64 zeros for size 0)
    <signed_at>         milliseconds since the epoch, decimal

On the log a head is an `AuditHeadSigned` record (Confluent wire format) on
`justlink.audit.checkpoints`; exported for a DPO or witness to keep it is the JSON of `to_json`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consent.access.audit.keys import AuditError, key_id, load_public_key, raw_public
from consent.access.audit.records import HEAD_TYPE, RecordError, audit_codec, millis
from runtime.clock import iso_utc, to_millis, to_utc
from runtime.topics import AUDIT_TOPIC
from schemas.ids import event_id_for

ORIGIN = AUDIT_TOPIC
HEAD_CONTEXT = "justlink.audit/head"


@dataclass(frozen=True, slots=True)
class SignedHead:
    origin: str
    size: int
    head_hash: str
    signed_at_ms: int
    trigger: str
    key_id: str
    public_key: str  # raw Ed25519 public key, hex
    signature: str  # base64

    def message(self) -> bytes:
        return "\n".join((HEAD_CONTEXT, self.origin, str(self.size), self.head_hash,
                          str(self.signed_at_ms))).encode("utf-8")

    @property
    def signed_at(self) -> datetime:
        return to_utc(self.signed_at_ms)

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(base64.b64decode(self.signature, validate=True), self.message())
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True

    def embedded_key(self) -> Ed25519PublicKey | None:
        try:
            return load_public_key(self.public_key.encode("ascii"))
        except (AuditError, UnicodeEncodeError):
            return None

    # -- the log ---------------------------------------------------------------------------------
    def to_value(self) -> bytes:
        at = millis(self.signed_at)
        record = {
            "envelope": {"event_id": event_id_for("hub", f"audit-head\x1f{self.size}\x1f{self.signed_at_ms}", 1),
                         "event_type": HEAD_TYPE,
                         "source": {"agency": "hub", "office_code": "hub", "office_name": "", "county_code": ""},
                         "source_record_key": f"audit-head\x1f{self.size}", "source_record_version": 1,
                         "occurred_at": at, "recorded_at": at, "schema_version": audit_codec().current(HEAD_TYPE)[1],
                         "related": [], "restriction": None},
            "origin": self.origin, "size": self.size, "head_hash": self.head_hash, "signed_at": at,
            "trigger": self.trigger, "key_id": self.key_id, "public_key": self.public_key,
            "signature": self.signature}
        return audit_codec().encode(HEAD_TYPE, record)

    @classmethod
    def from_value(cls, value: bytes) -> SignedHead:
        _, record = audit_codec().decode(value, HEAD_TYPE)
        return cls(record["origin"], int(record["size"]), record["head_hash"], to_millis(record["signed_at"]),
                   record["trigger"], record["key_id"], record["public_key"], record["signature"])

    # -- the file a DPO or witness keeps ----------------------------------------------------------
    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["signed_at"] = iso_utc(self.signed_at)
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "head file") -> SignedHead:
        try:
            data = json.loads(text)
            return cls(str(data["origin"]), int(data["size"]), str(data["head_hash"]), int(data["signed_at_ms"]),
                       str(data.get("trigger", "")), str(data["key_id"]), str(data["public_key"]),
                       str(data["signature"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"{source} is not an exported audit head (`justlink audit export-head`): "
                             f"{type(exc).__name__} {exc}") from None


def sign_head(key: Ed25519PrivateKey, size: int, head_hash: str, at: datetime, trigger: str,
              origin: str = ORIGIN) -> SignedHead:
    public = key.public_key()
    unsigned = SignedHead(origin, size, head_hash, to_millis(millis(at)), trigger, key_id(public),
                          raw_public(public).hex(), "")
    signature = base64.b64encode(key.sign(unsigned.message())).decode("ascii")
    return SignedHead(unsigned.origin, size, head_hash, unsigned.signed_at_ms, trigger, unsigned.key_id,
                      unsigned.public_key, signature)


def read_head(value: bytes) -> SignedHead | None:
    try:
        return SignedHead.from_value(value)
    except (RecordError, KeyError, TypeError, ValueError):
        return None
