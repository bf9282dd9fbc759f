"""Audit records on the wire: AccessAudited in the Confluent wire format, chained and signed.

A record is the Avro `AccessAudited` (schemas/avro/hub/AccessAudited.avsc) framed as Confluent
does it: byte 0 = 0, bytes 1-4 = the schema id (big-endian), then the Avro binary body. Each
record holds `prev_hash` (the previous record's chain hash), its own `hash`, and an Ed25519
`signature` by the audit key named in `key_id`.

The canonical encoding, over which the chain is defined:

    canonical(record) = 0x00 | schema_id (4 bytes, big-endian) | Avro binary body of the record
                        with `hash` = "" and `signature` = "", under the schema that id names,
                        every array written as one block (count, items, 0)
    hash              = hex SHA-256 of canonical(record)
    signature         = Ed25519 over the UTF-8 text "justlink.audit/record\\n" + hash

Any Avro library reproduces it from the record as decoded with its writer's schema (the id in the
frame): decode, blank the two fields, re-encode, hash. Personal free text (a break-glass reason)
is stored only as a token under the data subject's key (or a digest), and the hash covers the
token, so destroying the subject's key never breaks the chain.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import fastavro

from consent.access.decisions import AccessDecision, AccessRequest
from runtime.clock import fixed_utc, to_utc
from schemas import loader
from schemas.ids import event_id_for
from schemas.registry import SchemaRegistry, default_registry

RECORD_TYPE = "AccessAudited"
HEAD_TYPE = "AuditHeadSigned"
GENESIS_HASH = "0" * 64
RECORD_SIGNING_CONTEXT = "justlink.audit/record\n"
BREAK_GLASS_PATH = "break_glass_reason"
_FRAME = struct.Struct(">bI")


class RecordError(ValueError):
    """A value on the audit topics is not a readable audit record; the message says why."""


class ReasonCipher(Protocol):
    """Seals free text about a data subject under that subject's key (crypto-shreddable)."""

    def seal(self, subject: str | None, event_id: str, plaintext: str) -> str: ...


def digest_only(subject: str | None, event_id: str, plaintext: str) -> str:
    return "sha256:" + hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One access as the caller saw it. `event_types` are the types returned (or, when denied,
    those the policy would have needed); `refused_event_types` those withheld."""

    at: datetime
    user: str
    role: str
    organisation: str
    purpose: str
    status: int
    decision: str  # "allowed" | "denied"
    rule: str
    reason: str
    case_id: str | None = None
    subject: str | None = None
    legal_basis: str = ""
    event_types: tuple[str, ...] = ()
    refused_event_types: tuple[str, ...] = ()
    field_classes: tuple[str, ...] = ()
    refused_field_classes: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    break_glass_reason: str | None = field(default=None, repr=False)
    hidden_restricted: int = 0  # records withheld because of a restriction
    # caller values not recorded as sent (invalid or unknown): field, problem, length, keyed hash
    withheld: tuple[dict[str, object], ...] = ()

    @classmethod
    def from_decision(cls, request: AccessRequest, decision: AccessDecision, at: datetime, *,
                      returned_event_types: Iterable[str] | None = None,
                      refused_event_types: Iterable[str] | None = None, hidden_restricted: int = 0,
                      status: int | None = None, withheld: tuple[dict[str, object], ...] = ()) -> AuditEntry:
        returned = decision.event_types if returned_event_types is None else returned_event_types
        if refused_event_types is None:
            refused_event_types = decision.refused_event_types
        return cls(at, request.user, request.role, request.organisation, request.purpose,
                   status or decision.status, "allowed" if decision.allowed else "denied", decision.rule,
                   decision.reason, request.case_id, request.subject, decision.legal_basis, tuple(sorted(returned)),
                   tuple(sorted(refused_event_types)), tuple(sorted(decision.field_classes)),
                   tuple(sorted(decision.refused_field_classes)), tuple(sorted(decision.flags)),
                   request.break_glass_reason, hidden_restricted, withheld)

    @classmethod
    def unauthenticated(cls, reason: str, at: datetime, *, purpose: str = "", case_id: str | None = None,
                        subject: str | None = None, user: str = "", role: str = "",
                        organisation: str = "", withheld: tuple[dict[str, object], ...] = ()) -> AuditEntry:
        """A request refused with 401 (unknown, expired or revoked token)."""
        return cls(at, user or "(unauthenticated)", role, organisation, purpose, 401, "denied",
                   "authentication", reason, case_id, subject,
                   refused_field_classes=("basic", "contact", "identifier", "sensitive"), withheld=withheld)


def millis(at: datetime) -> datetime:
    """The instant at millisecond precision (what timestamp-millis keeps), so records round-trip."""
    at = to_utc(at)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


class AuditCodec:
    """Encodes audit records and heads with the current schema, and decodes them with the schema
    that wrote them (the id in the frame), so the canonical bytes can be recomputed exactly."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        self._parsed: dict[int, tuple[str, Any]] = {}
        self._current: dict[str, tuple[int, int]] = {}

    def current(self, event_type: str) -> tuple[int, int]:
        """(schema id, version) the current code writes `event_type` with."""
        found = self._current.get(event_type)
        if found is None:
            schema = loader.get(event_type)
            registered = self.registry.lookup(schema.full_name, schema.expanded)
            if registered is None:
                raise loader.SchemaError(f"{schema.path}: schema {event_type} is not registered; run "
                                         "`justlink schemas register`")
            found = self._current[event_type] = (registered.schema_id, registered.version)
        return found

    def _schema(self, schema_id: int) -> tuple[str, Any]:
        found = self._parsed.get(schema_id)
        if found is None:
            try:
                registered = self.registry.by_id(schema_id)
            except (KeyError, LookupError, ValueError):
                raise RecordError(f"unknown schema id {schema_id}") from None
            found = self._parsed[schema_id] = (registered.subject.rsplit(".", 1)[-1],
                                               fastavro.parse_schema(registered.schema))
        return found

    def encode_as(self, schema_id: int, record: dict[str, Any]) -> bytes:
        _, parsed = self._schema(schema_id)
        out = io.BytesIO()
        out.write(_FRAME.pack(0, schema_id))
        fastavro.schemaless_writer(out, parsed, record)
        return out.getvalue()

    def encode(self, event_type: str, record: dict[str, Any]) -> bytes:
        return self.encode_as(self.current(event_type)[0], record)

    def decode(self, value: bytes, expected_type: str) -> tuple[int, dict[str, Any]]:
        """(schema id, record as written). RecordError when the value is not one."""
        if len(value) < 5 or value[0] != 0:
            raise RecordError("not in the Confluent wire format (magic byte 0 and a schema id)")
        schema_id = _FRAME.unpack_from(value)[1]
        event_type, parsed = self._schema(schema_id)
        if event_type != expected_type:
            raise RecordError(f"schema id {schema_id} is {event_type}, not {expected_type}")
        try:
            record = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)
        except Exception as exc:  # noqa: BLE001 - any decoding failure means an unreadable record
            raise RecordError(f"the Avro body does not decode ({type(exc).__name__})") from None
        if not isinstance(record, dict):
            raise RecordError("the Avro body is not a record")
        return schema_id, record

    def chain_hash(self, schema_id: int, record: dict[str, Any]) -> str:
        canonical = self.encode_as(schema_id, {**record, "hash": "", "signature": ""})
        return hashlib.sha256(canonical).hexdigest()


_codec: AuditCodec | None = None


def audit_codec() -> AuditCodec:
    global _codec
    if _codec is None:
        _codec = AuditCodec()
    return _codec


def record_signing_message(hash_hex: str) -> bytes:
    return (RECORD_SIGNING_CONTEXT + hash_hex).encode("ascii")


def audit_event_id(seq: int, prev_hash: str) -> str:
    return event_id_for("hub", f"audit\x1f{seq}\x1f{prev_hash}", 1)


def new_record(entry: AuditEntry, seq: int, prev_hash: str, key: str, schema_version: int,
               seal: Callable[[str | None, str, str], str]) -> dict[str, Any]:
    """The Avro record of one entry, with `hash` and `signature` still empty."""
    at = millis(entry.at)
    event_id = audit_event_id(seq, prev_hash)
    return {
        "envelope": {"event_id": event_id, "event_type": RECORD_TYPE,
                     "source": {"agency": "hub", "office_code": "hub", "office_name": "", "county_code": ""},
                     "source_record_key": f"audit\x1f{seq}", "source_record_version": 1, "occurred_at": at,
                     "recorded_at": at, "schema_version": schema_version, "related": [], "restriction": None},
        "seq": seq, "user_id": entry.user, "role": entry.role, "organisation": entry.organisation,
        "purpose": entry.purpose, "case_id": entry.case_id or "", "subject": entry.subject or "",
        "decision": entry.decision, "rule": entry.rule, "event_types": list(entry.event_types),
        "field_classes": list(entry.field_classes),
        "break_glass_reason": seal(entry.subject, event_id, entry.break_glass_reason)
        if entry.break_glass_reason else None,
        "prev_hash": prev_hash, "hash": "", "status": entry.status, "reason": entry.reason,
        "legal_basis": entry.legal_basis, "refused_event_types": list(entry.refused_event_types),
        "refused_field_classes": list(entry.refused_field_classes), "flags": list(entry.flags),
        "hidden_restricted": entry.hidden_restricted,
        "withheld": [{"field": str(w.get("field", "")), "problem": str(w.get("problem", "")),
                      "length": int(w.get("length", 0) or 0), "hmac": str(w.get("hmac", "") or "")}  # type: ignore[call-overload]
                     for w in entry.withheld],
        "key_id": key, "signature": "",
    }


def body_of(record: dict[str, Any]) -> dict[str, Any]:
    """A decoded record as the flat dict the reports and tests read (`user`, `at` as fixed UTC text)."""
    envelope = record.get("envelope") or {}
    return {
        "seq": record["seq"], "at": fixed_utc(envelope["occurred_at"]), "event_id": envelope.get("event_id", ""),
        "user": record["user_id"], "role": record["role"], "organisation": record["organisation"],
        "purpose": record["purpose"], "case_id": record.get("case_id", ""), "subject": record.get("subject", ""),
        "status": record.get("status", 0), "decision": record["decision"], "rule": record["rule"],
        "reason": record.get("reason", ""), "legal_basis": record.get("legal_basis", ""),
        "event_types": list(record.get("event_types") or ()),
        "refused_event_types": list(record.get("refused_event_types") or ()),
        "field_classes": list(record.get("field_classes") or ()),
        "refused_field_classes": list(record.get("refused_field_classes") or ()),
        "flags": list(record.get("flags") or ()), "hidden_restricted": record.get("hidden_restricted", 0),
        "withheld": [{k: v for k, v in w.items() if v != ""} for w in record.get("withheld") or ()],
        "break_glass_reason": record.get("break_glass_reason"), "prev_hash": record["prev_hash"],
        "hash": record["hash"], "key_id": record.get("key_id", ""), "signature": record.get("signature", ""),
    }


def decode_record(value: bytes) -> dict[str, Any]:
    """One audit record value as a flat dict (see `body_of`); RecordError when unreadable."""
    _, record = audit_codec().decode(value, RECORD_TYPE)
    return body_of(record)


def view_row(value: bytes) -> dict[str, Any]:
    """One audit record as a row of the `audit_log` view (runtime/viewstore migrations). The
    break-glass reason stays sealed (token or digest)."""
    body = decode_record(value)
    return {"seq": body["seq"], "at": datetime.fromisoformat(body["at"].replace("Z", "+00:00")),
            "user_id": body["user"], "role": body["role"], "organisation": body["organisation"],
            "purpose": body["purpose"], "case_id": body["case_id"], "subject": body["subject"],
            "decision": body["decision"], "rule": body["rule"], "event_types": body["event_types"],
            "field_classes": body["field_classes"], "break_glass_reason": body["break_glass_reason"] or "",
            "prev_hash": body["prev_hash"], "hash": body["hash"]}


def break_glass_uses(records: Iterable[bytes]) -> list[tuple[str, datetime]]:
    """(user, time) of every granted break-glass access: feed BreakGlassLedger.from_uses at start
    so a restart does not reset the rate limit. Unreadable records are skipped (verify names them)."""
    uses = []
    for value in records:
        try:
            body = decode_record(value)
        except RecordError:
            continue
        if "break_glass" in body["flags"] and body["decision"] == "allowed":
            uses.append((str(body["user"]), datetime.fromisoformat(body["at"].replace("Z", "+00:00"))))
    return uses


class KeystoreReasonCipher:
    """Seals a break-glass reason as a protected-field token (consent/privacy/fields.py) under the data
    subject's DEK, bound to the audit record's event id, so erasing the subject shreds the reason too
    (the chain, over the token, stays valid). `subject_key_of` maps a hub person id to a keystore
    subject key; a reason about no subject (or one without a key) is kept as a digest only."""

    def __init__(self, keystore: Any, subject_key_of: Callable[[str], str | None], agency: str = "justice") -> None:
        self._keystore, self._subject_key_of, self._agency = keystore, subject_key_of, agency

    def seal(self, subject: str | None, event_id: str, plaintext: str) -> str:
        from consent.privacy.fields import FieldKey

        subject_key = self._subject_key_of(subject) if subject else None
        if not subject_key:
            return digest_only(subject, event_id, plaintext)
        dek = self._keystore.current_deks([subject_key], self._agency)[subject_key]
        return FieldKey(subject_key, dek.version, dek.key).encrypt(plaintext, event_id, BREAK_GLASS_PATH)

    def reveal(self, sealed: str, event_id: str) -> str:
        """The reason's text; raises the keystore's KeyErased once the subject was erased, and
        RecordError when only a digest was kept."""
        from consent.privacy.fields import FieldKey, is_token, parse_header

        if not is_token(sealed):
            raise RecordError("this reason was stored as a digest only")
        header = parse_header(sealed, event_id, BREAK_GLASS_PATH)
        key = self._keystore.dek(header.subject_key, header.dek_version)
        return FieldKey(header.subject_key, header.dek_version, key).decrypt(sealed, event_id, BREAK_GLASS_PATH)
