"""The audit trail's Ed25519 key and the trust anchor a verifier pins.

The hub signs with `<data_dir>/audit-signing.key` (PKCS#8 PEM, 0600, generated on first use). A
verifier never trusts that file: it pins the public key (a PEM file exported once with
`justlink audit export-key`, kept outside the data directory) or the key's fingerprint (setting
`audit_key_fingerprint`). A key regenerated or replaced in the data directory then fails
verification, because its fingerprint is not the pinned one.

- fingerprint: SHA-256 of the raw 32-byte public key, 64 hex;
- key id: the fingerprint's first 16 hex (in every record and head, to say which key signed).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNING_KEY_FILE = "audit-signing.key"


class AuditError(RuntimeError):
    """The audit trail cannot be written or its key cannot be used; the message says why."""


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public_key)).hexdigest()


def key_id(public_key: Ed25519PublicKey) -> str:
    return fingerprint(public_key)[:16]


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


def signing_key_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / SIGNING_KEY_FILE


def load_signing_key(data_dir: Path | str) -> Ed25519PrivateKey:
    """The existing signing key; AuditError naming the file when it is missing, readable by others or damaged."""
    path = signing_key_path(data_dir)
    if not path.exists():
        raise AuditError(f"no audit signing key at {path}")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise AuditError(f"{path} has mode {mode:04o}; the audit signing key must be 0600 (chmod 600 it)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise AuditError(f"{path} is not a PEM private key ({exc}); restore it from backup") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditError(f"{path} is not an Ed25519 key; restore it from backup")
    return key


def load_or_create_signing_key(data_dir: Path | str) -> Ed25519PrivateKey:
    """<data_dir>/audit-signing.key, generated on first use (mode 0600)."""
    path = signing_key_path(data_dir)
    if path.exists():
        return load_signing_key(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return load_signing_key(data_dir)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """What a verifier trusts: a pinned public key, or a pinned fingerprint (the key itself then
    comes from the signed heads, and must hash to the fingerprint)."""

    public_key: Ed25519PublicKey | None = None
    fingerprint: str | None = None
    source: str = ""

    @classmethod
    def of_key(cls, public_key: Ed25519PublicKey, source: str = "public key") -> TrustAnchor:
        return cls(public_key, fingerprint(public_key), source)

    @classmethod
    def of_fingerprint(cls, value: str, source: str = "fingerprint") -> TrustAnchor:
        text = value.strip().lower().replace(":", "")
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise AuditError(f"{source}: an audit key fingerprint is 64 hex characters (SHA-256 of the raw "
                             "public key, as `justlink audit export-key` prints it)")
        return cls(None, text, source)

    def accepts(self, public_key: Ed25519PublicKey) -> bool:
        return fingerprint(public_key) == self.fingerprint

    @property
    def key_id(self) -> str:
        return (self.fingerprint or "")[:16]
