"""The keystore interface: every key the privacy layer uses comes from an implementation of it.

Key hierarchy (envelope encryption):
- master key (outside the store: environment variable, key file, or a KMS's root key)
  wraps the agency KEKs and the matching key;
- one KEK per agency, versioned; rotation adds a version and re-wraps that agency's DEKs;
- one DEK per data-subject key (``subject_key``, 32 hex), versioned; a DEK encrypts field values;
  destroying it (crypto-shredding) makes every value encrypted under it unreadable;
- the matching key (blind indexes, linkage encodings, subject key ids), separate from the KEKs
  and never rotated with them.

`consent.privacy.keys.local.LocalKeystore` keeps everything in one SQLite file. A KMS-backed implementation
keeps the KEKs inside the KMS (wrap/unwrap calls instead of local AES-GCM) and the wrapped DEKs in
any database; the rest of the privacy layer only sees this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

AGENCIES = ("court", "police", "civil_affairs", "justice")


class KeystoreError(Exception):
    """The keystore cannot be opened or used; the message says why (never contains key material)."""


class KeyNotFound(KeystoreError):
    """No such key id / version exists."""


class KeystoreDamaged(KeystoreError):
    """The keystore file, or one wrapped key in it, is damaged; the message names the file and the key
    and says what to do (restore from backup)."""


class KeyErased(KeystoreError):
    """The data key was destroyed by an erasure (crypto-shredded)."""


@dataclass(frozen=True, slots=True)
class DataKey:
    subject_key: str
    version: int
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class RotationResult:
    agency: str
    old_version: int | None
    new_version: int
    deks_rewrapped: int


@dataclass(frozen=True, slots=True)
class DestroyResult:
    destroyed: list[str]  # subject keys whose live DEK versions were destroyed now
    already_erased: list[str]  # subject keys whose DEKs were all destroyed before
    not_found: list[str]  # subject keys the store has never seen
    dek_versions_destroyed: int


@dataclass(frozen=True, slots=True)
class AgencyStatus:
    agency: str
    kek_version: int
    kek_versions: int
    deks_live: int
    deks_erased: int


@dataclass(frozen=True, slots=True)
class KeystoreStatus:
    location: str
    matching_key_version: int
    agencies: list[AgencyStatus]
    erasure_epoch: int


class Keystore(ABC):
    """Holds KEKs, DEKs and the matching key. Implementations must be safe to use from one process
    at a time per instance and must make DEK creation and destruction durable before returning."""

    @abstractmethod
    def matching_key(self) -> bytes:
        """The 32-byte matching key (blind indexes, linkage encodings, subject key ids)."""

    @abstractmethod
    def current_deks(self, subject_keys: Iterable[str], agency: str) -> dict[str, DataKey]:
        """The live DEK of each subject key, created (wrapped under the agency's current KEK) if it has
        none yet, or a new version if all earlier versions were erased. One durable batch."""

    @abstractmethod
    def dek(self, subject_key: str, version: int) -> bytes:
        """One DEK version; raises KeyErased if it was destroyed, KeyNotFound if it never existed."""

    @abstractmethod
    def ensure_agency(self, agency: str) -> int:
        """Create the agency's KEK if missing; return its current version."""

    @abstractmethod
    def rotate_kek(self, agency: str) -> RotationResult:
        """Add a KEK version for the agency and re-wrap all its live DEKs under it."""

    @abstractmethod
    def destroy_subjects(self, subject_keys: Iterable[str]) -> DestroyResult:
        """Destroy every DEK version of the given subject keys. Irreversible."""

    @abstractmethod
    def erasure_epoch(self) -> int:
        """A counter that grows with every destruction; caches of unwrapped DEKs compare it to drop
        keys destroyed by another process."""

    @abstractmethod
    def status(self) -> KeystoreStatus:
        """Counts and versions only, no key material."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
