"""The audit trail: every access, allowed or denied, as an append-only, hash-chained stream.

Each record is canonical JSON (sorted keys, no spaces, UTF-8) on the topic "justlink.audit"
(one partition, so log order is chain order), keyed by its sequence number. A record holds
`prev_hash`, the previous record's hash, and `hash` = SHA-256 of its own canonical encoding
without `hash`. Personal free text (a break-glass reason) is stored only as ciphertext (or a
digest), and the hash covers that, so destroying a subject's key never breaks the chain.

Every `checkpoint_every` records, and on demand, an Ed25519 signature over (seq, hash, time)
goes to "justlink.audit.checkpoints". `verify` recomputes chain and signatures; the signed
checkpoints catch a tail truncated after them and a chain rewritten wholesale before them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consent.access.decisions import AccessDecision, AccessRequest
from runtime.clock import fixed_utc
from runtime.eventlog.base import EventLog, TopicPartition
from runtime.topics import AUDIT_CHECKPOINT_TOPIC, AUDIT_TOPIC

CHECKPOINT_TOPIC = AUDIT_CHECKPOINT_TOPIC
SIGNING_KEY_FILE = "audit-signing.key"
GENESIS_HASH = "0" * 64
FORMAT_VERSION = 1


class AuditError(RuntimeError):
    """The audit trail cannot be written or its key cannot be used; the message says why."""


class ReasonCipher(Protocol):
    """Encrypts free text about a data subject under that subject's key (crypto-shreddable)."""

    def encrypt(self, subject: str | None, plaintext: bytes) -> dict[str, str]: ...


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(body: dict[str, Any]) -> str:
    """SHA-256 over the canonical encoding of a record without its own `hash`."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "hash"})).hexdigest()


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


@dataclass(frozen=True, slots=True)
class SealedRecord:
    seq: int
    prev_hash: str
    hash: str
    value: bytes  # exactly what is on the log


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    signature: str
    key_id: str
    value: bytes


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    first_bad_seq: int | None = None
    reason: str = ""
    records: int = 0
    checkpoints: int = 0


# --- keys ----------------------------------------------------------------------------------

def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """A PEM public key, or 32 raw bytes / 64 hex characters."""
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            raw = bytes.fromhex(text.decode("ascii")) if len(text) == 64 else text
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuditError(f"not an Ed25519 public key (PEM, raw or hex): {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError("the public key is not an Ed25519 key")
    return key


def load_or_create_signing_key(data_dir: Path | str) -> Ed25519PrivateKey:
    """<data_dir>/audit-signing.key (PKCS#8 PEM, mode 0600), generated on first use."""
    path = Path(data_dir) / SIGNING_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_or_create_signing_key(data_dir)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return key
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AuditError(f"{path} has mode {mode:04o}; the audit signing key must be 0600 (chmod 600 it)")
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise AuditError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AuditError(f"{path} is not an Ed25519 key")
    return loaded


def _digest_only(subject: str | None, plaintext: bytes) -> dict[str, str]:
    return {"alg": "sha256", "digest": hashlib.sha256(plaintext).hexdigest()}


class KeystoreReasonCipher:
    """Encrypts a break-glass reason with AES-GCM under the data subject's DEK from the keystore,
    so erasing the subject shreds the reason too (the chain, over the ciphertext, stays valid).
    `subject_key_of` maps a hub person id to its keystore subject key; a reason about no subject
    (or one without a key) is kept as a digest only."""

    def __init__(self, keystore: Any, subject_key_of: Callable[[str], str | None], agency: str = "justice") -> None:
        self._keystore, self._subject_key_of, self._agency = keystore, subject_key_of, agency

    def encrypt(self, subject: str | None, plaintext: bytes) -> dict[str, str]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        subject_key = self._subject_key_of(subject) if subject else None
        if not subject_key:
            return _digest_only(subject, plaintext)
        dek = self._keystore.current_deks([subject_key], self._agency)[subject_key]
        nonce = os.urandom(12)
        aad = f"audit|{subject_key}|{dek.version}".encode()
        ciphertext = AESGCM(dek.key).encrypt(nonce, plaintext, aad)
        return {"alg": "A256GCM", "subject_key": subject_key, "dek_version": str(dek.version),
                "nonce": base64.b64encode(nonce).decode("ascii"), "ct": base64.b64encode(ciphertext).decode("ascii")}

    def decrypt(self, sealed: dict[str, str]) -> str:
        """The reason's text; raises the keystore's KeyErased once the subject was erased."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if sealed.get("alg") != "A256GCM":
            raise AuditError("this reason was stored as a digest only")
        version = int(sealed["dek_version"])
        key = self._keystore.dek(sealed["subject_key"], version)
        aad = f"audit|{sealed['subject_key']}|{version}".encode()
        return AESGCM(key).decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ct"]), aad).decode()


# --- writing -------------------------------------------------------------------------------

class AuditTrail:
    """Appends sealed records to the log. One writer per trail: run a single AuditTrail per
    deployment (the embedded deployment is one process), or the chain forks."""

    def __init__(self, log: EventLog, signing_key: Ed25519PrivateKey, *, checkpoint_every: int = 100,
                 cipher: ReasonCipher | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if checkpoint_every < 1:
            raise AuditError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self._log = log
        self._key = signing_key
        self._key_id = key_id(signing_key.public_key())
        self._every = checkpoint_every
        self._encrypt = cipher.encrypt if cipher is not None else _digest_only
        self._clock = clock
        self._lock = threading.Lock()
        log.create_topic(AUDIT_TOPIC, 1)
        log.create_topic(CHECKPOINT_TOPIC, 1)
        self._next_seq, self._last_hash = self._recover()
        self._checkpointed_seq = self._last_checkpoint_seq()

    @classmethod
    def open(cls, log: EventLog, data_dir: Path | str, **options: Any) -> AuditTrail:
        return cls(log, load_or_create_signing_key(data_dir), **options)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def _tail(self, topic: str) -> bytes | None:
        """The value of the last record of a one-partition topic (scanning on from the reported
        end, which some brokers under-report)."""
        end = self._log.end_offsets(topic).get(0, 0)
        last = None
        with self._log.consumer(f"{topic}.recover", [topic], from_beginning=True) as consumer:
            consumer.seek(TopicPartition(topic, 0), max(end - 1, 0))
            while batch := consumer.poll(500, timeout_s=0.0):
                last = batch[-1].value
        return last

    def _recover(self) -> tuple[int, str]:
        last = self._tail(AUDIT_TOPIC)
        if last is None:
            return 0, GENESIS_HASH
        try:
            body = json.loads(last)
            return int(body["seq"]) + 1, str(body["hash"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"the last record on {AUDIT_TOPIC} is unreadable ({exc}); run "
                             "`justlink audit verify` before writing more") from None

    def _last_checkpoint_seq(self) -> int:
        last = self._tail(CHECKPOINT_TOPIC)
        return int(json.loads(last)["seq"]) if last else -1

    def _body(self, entry: AuditEntry, seq: int, prev_hash: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": FORMAT_VERSION, "seq": seq, "prev_hash": prev_hash, "at": fixed_utc(entry.at),
            "user": entry.user, "role": entry.role, "organisation": entry.organisation,
            "purpose": entry.purpose, "case_id": entry.case_id or "", "subject": entry.subject or "",
            "status": entry.status, "decision": entry.decision, "rule": entry.rule, "reason": entry.reason,
            "legal_basis": entry.legal_basis, "event_types": list(entry.event_types),
            "refused_event_types": list(entry.refused_event_types), "field_classes": list(entry.field_classes),
            "refused_field_classes": list(entry.refused_field_classes), "flags": list(entry.flags),
            "hidden_restricted": entry.hidden_restricted, "break_glass_reason": None,
            "withheld": [dict(w) for w in entry.withheld],
        }
        if entry.break_glass_reason:
            body["break_glass_reason"] = self._encrypt(entry.subject, entry.break_glass_reason.encode("utf-8"))
        return body

    def append(self, entry: AuditEntry) -> SealedRecord:
        with self._lock:
            seq, prev = self._next_seq, self._last_hash
            body = self._body(entry, seq, prev)
            body["hash"] = record_hash(body)
            value = canonical(body)
            self._log.append(AUDIT_TOPIC, value, key=str(seq).encode())
            self._next_seq, self._last_hash = seq + 1, body["hash"]
            if seq - self._checkpointed_seq >= self._every:
                self._checkpoint_locked()
            return SealedRecord(seq, prev, body["hash"], value)

    def checkpoint(self) -> Checkpoint | None:
        """Sign the head of the chain now (None when there is nothing new to sign)."""
        with self._lock:
            return self._checkpoint_locked()

    def _checkpoint_locked(self) -> Checkpoint | None:
        seq = self._next_seq - 1
        if seq < 0 or seq == self._checkpointed_seq:
            return None
        at = fixed_utc(self._clock())
        signature = base64.b64encode(self._key.sign(canonical({"seq": seq, "hash": self._last_hash, "at": at})))
        body = {"v": FORMAT_VERSION, "seq": seq, "hash": self._last_hash, "at": at, "key_id": self._key_id,
                "signature": signature.decode("ascii")}
        value = canonical(body)
        self._log.append(CHECKPOINT_TOPIC, value, key=str(seq).encode())
        self._checkpointed_seq = seq
        return Checkpoint(seq, self._last_hash, at, signature.decode("ascii"), self._key_id, value)

    def close(self) -> None:
        self.checkpoint()


def read_trail(log: EventLog) -> tuple[list[bytes], list[bytes]]:
    """Every audit record and checkpoint value, in log order."""
    out: list[list[bytes]] = []
    for topic in (AUDIT_TOPIC, CHECKPOINT_TOPIC):
        values: list[bytes] = []
        if topic in log.topics():
            with log.consumer(f"{topic}.read", [topic], from_beginning=True) as consumer:
                consumer.seek_to_beginning()
                while batch := consumer.poll(1000, timeout_s=0.0):
                    values.extend(r.value for r in batch)
        out.append(values)
    return out[0], out[1]


# --- verifying -----------------------------------------------------------------------------

def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _seq_of(body: dict[str, Any] | None) -> int | None:
    seq = body.get("seq") if body else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def verify(records: Sequence[bytes], checkpoints: Sequence[bytes], public_key: Ed25519PublicKey) -> VerifyResult:
    """Recompute the chain and check every signed checkpoint against it. On failure, names
    the first bad record: altered (hash or encoding), removed (a seq is missing), reordered
    (a seq is out of place), or truncated (the log ends before a signed checkpoint)."""
    bodies = [_parse(raw) for raw in records]
    seqs = [_seq_of(body) for body in bodies]
    hashes: list[str] = []
    prev = GENESIS_HASH
    for position, (raw, body) in enumerate(zip(records, bodies, strict=True)):
        expected = position
        seq = seqs[position]
        if body is None or seq is None:
            return VerifyResult(False, expected, f"record {expected} (position {position}) is unreadable: "
                                "not a JSON audit record — altered", position)
        if seq != expected:
            if expected in seqs[position + 1:]:
                where = seqs.index(expected, position + 1)
                reason = (f"record {expected} is out of order: found at position {where}, and record {seq} "
                          f"in its place — records reordered")
            else:
                reason = f"record {expected} is missing (position {position} holds record {seq}) — removed"
            return VerifyResult(False, expected, reason, position)
        if canonical(body) != raw:
            return VerifyResult(False, seq, f"record {seq} is not in canonical form — altered", position)
        if body.get("prev_hash") != prev:
            return VerifyResult(False, seq, f"record {seq} does not commit to record {seq - 1}'s hash "
                                "(prev_hash differs) — altered or chain rewritten", position)
        if record_hash(body) != body.get("hash"):
            return VerifyResult(False, seq, f"record {seq}'s content does not match its hash — altered", position)
        prev = body["hash"]
        hashes.append(prev)
    return _verify_checkpoints(hashes, checkpoints, public_key)


def _verify_checkpoints(hashes: list[str], checkpoints: Sequence[bytes],
                        public_key: Ed25519PublicKey) -> VerifyResult:
    count = len(hashes)
    last_good = -1  # the highest seq confirmed by a valid checkpoint
    for position, raw in enumerate(checkpoints):
        body = _parse(raw)
        seq = _seq_of(body)
        if body is None or seq is None or not isinstance(body.get("signature"), str):
            return VerifyResult(False, last_good + 1, f"checkpoint at position {position} is unreadable — "
                                "altered", count, position)
        try:
            public_key.verify(base64.b64decode(body["signature"], validate=True),
                              canonical({"seq": seq, "hash": body.get("hash"), "at": body.get("at")}))
        except (InvalidSignature, ValueError):
            return VerifyResult(False, min(seq, count), f"checkpoint for record {seq} has an invalid signature "
                                "(altered, or signed by another key)", count, position)
        if seq >= count:
            return VerifyResult(False, count, f"the trail ends at record {count - 1} but a signed checkpoint "
                                f"covers record {seq}: records {count}..{seq} were removed — truncated",
                                count, position)
        if hashes[seq] != body["hash"]:
            return VerifyResult(False, last_good + 1, f"records {last_good + 1}..{seq} differ from the signed "
                                f"checkpoint for record {seq} — chain rewritten", count, position)
        last_good = max(last_good, seq)
    return VerifyResult(True, None, f"{count} records and {len(checkpoints)} checkpoints verified; "
                        f"{count - 1 - last_good} records after the last checkpoint", count, len(checkpoints))


# --- reading, for the view and for restarts --------------------------------------------------

def view_row(value: bytes) -> dict[str, Any]:
    """One audit record as a row of the `audit_log` view (runtime/viewstore migrations). The
    break-glass reason stays sealed (ciphertext or digest, as JSON text)."""
    body = json.loads(value)
    reason = body.get("break_glass_reason")
    return {"seq": body["seq"], "at": datetime.fromisoformat(body["at"].replace("Z", "+00:00")),
            "user_id": body["user"], "role": body["role"], "organisation": body["organisation"],
            "purpose": body["purpose"], "case_id": body["case_id"], "subject": body["subject"],
            "decision": body["decision"], "rule": body["rule"], "event_types": body["event_types"],
            "field_classes": body["field_classes"], "break_glass_reason": json.dumps(reason) if reason else "",
            "prev_hash": body["prev_hash"], "hash": body["hash"]}


def break_glass_uses(records: Iterable[bytes]) -> list[tuple[str, datetime]]:
    """(user, time) of every granted break-glass access: feed BreakGlassLedger.from_uses at start
    so a restart does not reset the rate limit."""
    uses = []
    for value in records:
        body = _parse(value)
        if body and "break_glass" in body.get("flags", ()) and body.get("decision") == "allowed":
            uses.append((str(body["user"]), datetime.fromisoformat(str(body["at"]).replace("Z", "+00:00"))))
    return uses
