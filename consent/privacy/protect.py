"""Protect records on the way in, reveal them on the way out. The only place field crypto happens.

``Protector.protect`` takes a plaintext record (dict shaped by its Avro schema), fills each party's
``protection`` (blind indexes, linkage encodings, subject key) from the plaintext, and replaces every
field tagged identifier / contact / sensitive with a token (consent/privacy/fields.py). ``reveal`` is the
access layer's decryption: allowed classes in plaintext, the rest masked as ``***<class>``, values
whose key was erased as ``[erased]``.

Keying (see consent/privacy/PRIVACY.md):
- a party's subject key is HMAC(matching sub-key, agency | kind | blind index) of its strongest
  identifier: the ID number, else the agency's own person id, else name + date of birth; with none
  of those, a key of its own for this record and position (agency | event id | path);
- event-level protected fields (outside party records) use the subject key of the event's first
  party (the first party record in schema field order); with no parties, a per-record key.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from consent.privacy.blind_index import BlindIndexer
from consent.privacy.fields import FieldDecryptionError, FieldKey, NoncePool, decode_token
from consent.privacy.keys.base import KeyErased, KeyNotFound, Keystore
from consent.privacy.linkage import LinkageEncoder
from consent.privacy.pii_plan import (
    ARRAY,
    BASIC,
    FIELD_CLASSES,
    PROTECT,
    PROTECTED_CLASSES,
    PROTECTION_FIELD,
    RECORD,
    RecordPlan,
    compile_plan,
)
from consent.privacy.similarity import SimilarityEncoder

ERASED = "[erased]"
MASK_PREFIX = "***"

__all__ = ["ERASED", "MASK_PREFIX", "FIELD_CLASSES", "PROTECTED_CLASSES", "ProtectionError", "Protector"]


class ProtectionError(ValueError):
    """A record cannot be protected; names the event and field, never the value."""

    def __init__(self, event_id: str, path: str, reason: str) -> None:
        super().__init__(f"event {event_id} field {path or '<record>'}: {reason}")
        self.event_id = event_id
        self.path = path
        self.reason = reason


class _LRU:
    """A small thread-safe LRU map."""

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self._size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_PARTY_TEXT_FIELDS = ("name", "id_number", "date_of_birth", "phone", "address", "agency_person_id")
_ERASED_KEY = object()  # cache marker for a DEK version known to be destroyed


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Protector:
    """Protects and reveals records with keys from one keystore. Caches unwrapped DEKs (LRU) and
    drops them within ``epoch_check_interval`` seconds of an erasure made by any process."""

    def __init__(
        self,
        keystore: Keystore,
        matching_key: bytes | None = None,
        *,
        named_types: Mapping[str, Any] | None = None,
        dek_cache_size: int = 200_000,
        protection_cache_size: int = 100_000,
        epoch_check_interval: float = 1.0,
    ) -> None:
        self.keystore = keystore
        matching = matching_key if matching_key is not None else keystore.matching_key()
        self.blind = BlindIndexer(matching)
        self.linkage = LinkageEncoder(matching)
        self.similarity = SimilarityEncoder(matching)
        self._named_types = named_types
        self._current = _LRU(dek_cache_size)  # subject_key -> FieldKey (its live version)
        self._versions = _LRU(dek_cache_size)  # (subject_key, version) -> FieldKey | _ERASED_KEY
        self._protections = _LRU(protection_cache_size)  # (agency, *party values) -> (protection, keyed?)
        self._epoch_interval = epoch_check_interval
        self._epoch = keystore.erasure_epoch()
        self._epoch_checked = time.monotonic()

    # -- caches ----------------------------------------------------------------------------------

    def forget_keys(self) -> None:
        """Drop every cached DEK (called when the keystore's erasure epoch moves)."""
        self._current.clear()
        self._versions.clear()

    def _check_epoch(self) -> None:
        now = time.monotonic()
        if now - self._epoch_checked < self._epoch_interval:
            return
        self._epoch_checked = now
        epoch = self.keystore.erasure_epoch()
        if epoch != self._epoch:
            self._epoch = epoch
            self.forget_keys()

    def _keys_for(self, subject_keys: Iterable[str], agency: str) -> dict[str, FieldKey]:
        """The live FieldKey of each subject key: from the cache, else from the keystore in one batch."""
        keys: dict[str, FieldKey] = {}
        missing = []
        for subject_key in subject_keys:
            if subject_key in keys:
                continue
            cached = self._current.get(subject_key)
            if cached is None:
                missing.append(subject_key)
            else:
                keys[subject_key] = cached
        if missing:
            for subject_key, data_key in self.keystore.current_deks(missing, agency).items():
                field_key = FieldKey(subject_key, data_key.version, data_key.key)
                self._current.put(subject_key, field_key)
                self._versions.put((subject_key, data_key.version), field_key)
                keys[subject_key] = field_key
        return keys

    def _version_key(self, subject_key: str, version: int) -> FieldKey | None:
        cached = self._versions.get((subject_key, version))
        if cached is None:
            try:
                cached = FieldKey(subject_key, version, self.keystore.dek(subject_key, version))
            except KeyErased:
                cached = _ERASED_KEY
            self._versions.put((subject_key, version), cached)
        return None if cached is _ERASED_KEY else cached

    def data_keys(self, subject_keys: Iterable[str], agency: str) -> dict[str, FieldKey]:
        """The live data key of each subject key (created, in one keystore transaction, when new)."""
        self._check_epoch()
        return self._keys_for(subject_keys, agency)

    def data_key(self, subject_key: str, version: int) -> FieldKey | None:
        """One version of a subject's data key; None when it was erased (raises KeyNotFound when the
        keystore never had it)."""
        self._check_epoch()
        return self._version_key(subject_key, version)

    # -- matching material -----------------------------------------------------------------------

    def party_protection(self, party: Mapping[str, Any], agency: str, event_id: str, path: str) -> dict:
        """PartyProtection of one party (plaintext in, no plaintext out). Memoised by the party's
        values (bounded LRU): the same people recur across events."""
        values = []
        for name in _PARTY_TEXT_FIELDS:
            value = party.get(name)
            if value is not None and value.__class__ is not str:
                raise ProtectionError(event_id, _child(path, name), f"expected a string, got {type(value).__name__}")
            values.append(value or None)
        cache_key = (agency, *values)
        cached = self._protections.get(cache_key)
        if cached is None:
            cached = self._compute_protection(agency, *values)
            self._protections.put(cache_key, cached)
        protection, record_keyed = cached
        protection = dict(protection)
        if record_keyed:  # no identifier to key on: a key of its own for this record and position
            protection["subject_key"] = self.blind.subject_key(f"{agency}|rec|{event_id}|{path}")
        return protection

    def _compute_protection(
        self,
        agency: str,
        name: str | None,
        id_number: str | None,
        dob: str | None,
        phone: str | None,
        address: str | None,
        agency_person_id: str | None,
    ) -> tuple[dict, bool]:
        blind = self.blind
        id_bi, id_valid = blind.id_number(id_number) if id_number else (None, None)
        name_dob_bi = blind.name_dob(name, dob) if name and dob else None
        agency_person_bi = blind.agency_person(agency, agency_person_id) if agency_person_id else None
        if id_bi:
            subject_key = blind.subject_key(f"{agency}|id|{id_bi}")
        elif agency_person_bi:
            subject_key = blind.subject_key(f"{agency}|ap|{agency_person_bi}")
        elif name_dob_bi:
            subject_key = blind.subject_key(f"{agency}|nd|{name_dob_bi}")
        else:
            subject_key = None
        name_key = self.linkage.name_key(name) if name else None
        protection = {
            "subject_key": subject_key,
            "id_number_bi": id_bi,
            "id_number_valid": id_valid,
            "phone_bi": blind.phone(phone) if phone else None,
            "name_dob_bi": name_dob_bi,
            "dob_bi": blind.dob(dob) if dob else None,
            "agency_person_bi": agency_person_bi,
            "name_key_bi": blind.name_key(name_key) if name_key else None,
            **self.similarity.name(name),
            **self.similarity.address(address),
            **self.similarity.date_of_birth(dob, blind),
            **self.similarity.id_number(id_number),
        }
        return protection, subject_key is None

    def _collect_parties(self, value: Mapping, plan: RecordPlan, path: str, out: list) -> None:
        if plan.is_party:
            out.append((path, value))
        for step in plan.steps:
            child = value.get(step.name)
            if child is None or step.plan is None:
                continue
            child_path = _child(path, step.name)
            if step.kind == RECORD:
                self._collect_parties(child, step.plan, child_path, out)
            elif step.kind == ARRAY:
                for i, item in enumerate(child):
                    self._collect_parties(item, step.plan, f"{child_path}[{i}]", out)

    def _prepare(self, record: Mapping, plan: RecordPlan, event_id: str, agency: str) -> tuple[dict, str]:
        """Protections by party path, and the subject key for event-level fields."""
        parties: list[tuple[str, Mapping]] = []
        self._collect_parties(record, plan, "", parties)
        protections = {}
        for path, party in parties:
            if party.get(PROTECTION_FIELD) is not None:
                raise ProtectionError(event_id, _child(path, PROTECTION_FIELD), "record is already protected")
            protections[path] = self.party_protection(party, agency, event_id, path)
        if parties:
            event_subject = protections[parties[0][0]]["subject_key"]
        else:
            event_subject = self.blind.subject_key(f"{agency}|rec|{event_id}|")
        return protections, event_subject

    # -- protect ---------------------------------------------------------------------------------

    def protect(self, record: Mapping, schema: dict, event_id: str, agency: str) -> dict:
        """A new record with every party's protection filled and every protected field encrypted."""
        return self.protect_many([(record, event_id)], schema, agency)[0]

    def protect_many(self, items: Iterable[tuple[Mapping, str]], schema: dict, agency: str) -> list[dict]:
        """Protect a batch of (record, event_id) of one schema: new DEKs are created in one durable
        keystore transaction for the whole batch."""
        plan = compile_plan(schema, self._named_types)
        self._check_epoch()
        prepared = []
        for record, event_id in items:
            protections, event_subject = self._prepare(record, plan, event_id, agency)
            prepared.append((record, event_id, protections, event_subject))
        subjects = [p["subject_key"] for _, _, prots, _ in prepared for p in prots.values()]
        subjects += [event_subject for *_, event_subject in prepared]
        keys = self._keys_for(subjects, agency)
        nonces = NoncePool()
        return [
            self._encrypt(record, plan, "", event_subject, event_id, protections, keys, nonces)
            for record, event_id, protections, event_subject in prepared
        ]

    def _encrypt(
        self,
        value: Mapping,
        plan: RecordPlan,
        path: str,
        subject_key: str,
        event_id: str,
        protections: dict,
        keys: dict[str, FieldKey],
        nonces: NoncePool,
        event_context: bytes | None = None,
    ) -> dict:
        if event_context is None:
            event_context = event_id.encode() + b"\x00"
        out = dict(value)
        if plan.is_party:
            protection = protections[path]
            out[PROTECTION_FIELD] = protection
            subject_key = protection["subject_key"]
        key = keys[subject_key]
        prefix = path + "." if path else ""
        for step in plan.steps:
            child = value.get(step.name)
            if child is None:
                continue
            child_path = prefix + step.name
            kind = step.kind
            if kind == PROTECT:
                if child.__class__ is not str:
                    raise ProtectionError(event_id, child_path, f"expected a string, got {type(child).__name__}")
                out[step.name] = key.encrypt_in(child, event_context + child_path.encode(), nonces.take())
            elif kind == RECORD:
                out[step.name] = self._encrypt(
                    child, step.nested, child_path, subject_key, event_id, protections, keys, nonces, event_context
                )
            elif kind == ARRAY:
                out[step.name] = [
                    self._encrypt(
                        item, step.nested, f"{child_path}[{i}]", subject_key, event_id, protections, keys, nonces,
                        event_context,
                    )
                    for i, item in enumerate(child)
                ]
        return out

    # -- reveal ----------------------------------------------------------------------------------

    def reveal(
        self,
        record: Mapping,
        schema: dict,
        event_id: str,
        allowed_classes: set[str] | frozenset[str],
        *,
        keep_protection: bool = False,
    ) -> dict:
        """Plaintext for fields whose class is allowed, ``***<class>`` for the others, ``[erased]`` for
        values whose data key was destroyed. Party ``protection`` is dropped unless keep_protection."""
        unknown = set(allowed_classes) - FIELD_CLASSES
        if unknown:
            raise ValueError(f"unknown field classes {sorted(unknown)}; expected some of {sorted(FIELD_CLASSES)}")
        plan = compile_plan(schema, self._named_types)
        self._check_epoch()
        return self._reveal(record, plan, "", event_id, frozenset(allowed_classes), keep_protection)

    def _reveal(
        self, value: Mapping, plan: RecordPlan, path: str, event_id: str, allowed: frozenset, keep: bool
    ) -> dict:
        out = dict(value)
        if plan.is_party and not keep and PROTECTION_FIELD in out:
            out[PROTECTION_FIELD] = None
        for step in plan.steps:
            child = value.get(step.name)
            if child is None:
                continue
            child_path = _child(path, step.name)
            if step.kind in (PROTECT, BASIC):
                if step.pii_class not in allowed:
                    out[step.name] = MASK_PREFIX + step.pii_class
                elif step.kind == PROTECT:
                    out[step.name] = self._decrypt(child, event_id, child_path)
            elif step.kind == RECORD:
                out[step.name] = self._reveal(child, step.nested, child_path, event_id, allowed, keep)
            elif step.kind == ARRAY:
                out[step.name] = [
                    self._reveal(item, step.nested, f"{child_path}[{i}]", event_id, allowed, keep)
                    for i, item in enumerate(child)
                ]
        return out

    def _decrypt(self, token: Any, event_id: str, path: str) -> str:
        if not isinstance(token, str):
            raise FieldDecryptionError(event_id, path, f"expected a token string, got {type(token).__name__}")
        header, raw = decode_token(token, event_id, path)
        try:
            key = self._version_key(header.subject_key, header.dek_version)
        except KeyNotFound:
            raise FieldDecryptionError(
                event_id, path, f"data key {header.subject_key} v{header.dek_version} is not in the keystore"
            ) from None
        if key is None:
            return ERASED
        return key.decrypt_raw(raw, event_id, path)
