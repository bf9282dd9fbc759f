"""The protected-field token: one field value encrypted under its data subject's DEK.

Token (ASCII, fits an Avro ``string``)::

    "jle1." + base64url_nopad( subject_key[16] | dek_version[4, big-endian] | nonce[12] | ciphertext+tag )

- ``subject_key`` is the data-subject key id (32 hex in PartyProtection, 16 raw bytes here) and
  ``dek_version`` the version of that subject's DEK: together they name the key, so a token stays
  readable after KEK rotation (only the DEK's wrapping changes) and unreadable after erasure.
- AES-256-GCM with a random 96-bit nonce (DEKs encrypt few values, far below the 2^32 bound).
- Associated data = ``"jle1" | header | event_id | 0x00 | field path`` (e.g. ``parties[1].phone``):
  a token moved to another field or another event, or whose header is edited, fails to decrypt.
- The plaintext is UTF-8 padded to a multiple of 16 bytes (ISO/IEC 7816-4: 0x80 then zeros), so the
  token length does not tell a 2-character name from a 3-character one.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN_PREFIX = "jle1."
_VERSION_TAG = b"jle1"
_SUBJECT_BYTES = 16
_HEADER_BYTES = _SUBJECT_BYTES + 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_BLOCK = 16
_MIN_RAW = _HEADER_BYTES + _NONCE_BYTES + _BLOCK + _TAG_BYTES
_PADS = tuple(b"\x80" + bytes(_BLOCK - 1 - n) for n in range(_BLOCK))
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_PREFIX_BYTES = TOKEN_PREFIX.encode()
_urandom = os.urandom
_b2a = binascii.b2a_base64


class NoncePool:
    """Fresh random nonces for one batch of encryptions, one OS call per 64 of them. Create one per
    call on one thread and drop it after: never shared, so never handed out twice (nor across fork)."""

    __slots__ = ("_buffer", "_pos")
    _SIZE = _NONCE_BYTES * 64

    def __init__(self) -> None:
        self._buffer = _urandom(self._SIZE)
        self._pos = 0

    def take(self) -> bytes:
        pos = self._pos
        if pos >= self._SIZE:
            self._buffer = _urandom(self._SIZE)
            pos = 0
        self._pos = pos + _NONCE_BYTES
        return self._buffer[pos : pos + _NONCE_BYTES]


def aad_context(event_id: str, path: str) -> bytes:
    """The part of the associated data that names where a value belongs."""
    return event_id.encode() + b"\x00" + path.encode()


class FieldDecryptionError(Exception):
    """A protected field could not be decrypted. Names the event and field, never the value."""

    def __init__(self, event_id: str, path: str, reason: str) -> None:
        super().__init__(f"event {event_id} field {path}: {reason}")
        self.event_id = event_id
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TokenHeader:
    subject_key: str
    dek_version: int


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def _unpad(data: bytes) -> bytes:
    end = data.rstrip(b"\x00")
    if not end or end[-1] != 0x80:
        raise ValueError("bad padding")
    return end[:-1]


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw(token: str, event_id: str, path: str) -> bytes:
    if not is_token(token):
        raise FieldDecryptionError(event_id, path, f"not a protected-field token (expected prefix {TOKEN_PREFIX!r})")
    try:
        raw = _b64decode(token[len(TOKEN_PREFIX) :])
    except (binascii.Error, ValueError):
        raise FieldDecryptionError(event_id, path, "token is not valid base64url") from None
    if len(raw) < _MIN_RAW or (len(raw) - _HEADER_BYTES - _NONCE_BYTES - _TAG_BYTES) % _BLOCK:
        raise FieldDecryptionError(event_id, path, f"token has an impossible length ({len(raw)} bytes)")
    return raw


def parse_header(token: str, event_id: str = "?", path: str = "?") -> TokenHeader:
    """The key id and DEK version a token was encrypted under (no key needed)."""
    raw = _raw(token, event_id, path)
    return TokenHeader(raw[:_SUBJECT_BYTES].hex(), int.from_bytes(raw[_SUBJECT_BYTES:_HEADER_BYTES], "big"))


class FieldKey:
    """One DEK version of one subject, ready to encrypt and decrypt field values."""

    __slots__ = ("subject_key", "version", "_aead", "_header", "_aad_prefix")

    def __init__(self, subject_key: str, version: int, dek: bytes) -> None:
        try:
            subject_raw = bytes.fromhex(subject_key)
        except ValueError:
            subject_raw = b""
        if len(subject_raw) != _SUBJECT_BYTES:
            raise ValueError("subject key must be 32 hex characters")
        self.subject_key = subject_key
        self.version = version
        self._aead = AESGCM(dek)
        self._header = subject_raw + version.to_bytes(4, "big")
        self._aad_prefix = _VERSION_TAG + self._header

    def encrypt(self, value: str, event_id: str, path: str) -> str:
        return self.encrypt_in(value, aad_context(event_id, path))

    def encrypt_in(self, value: str, context: bytes, nonce: bytes | None = None) -> str:
        """Encrypt with a precomputed `aad_context(event_id, path)` and, optionally, a fresh nonce from a
        `NoncePool`. (Hot path: module-level aliases.)"""
        data = value.encode()
        if nonce is None:
            nonce = _urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data + _PADS[len(data) & 15], self._aad_prefix + context)
        return (_PREFIX_BYTES + _b2a(self._header + nonce + sealed, newline=False).translate(_URLSAFE)).rstrip(
            b"="
        ).decode()

    def seal(self, nonce: bytes, data: bytes, associated: bytes) -> bytes:
        """AES-256-GCM of raw bytes under this DEK (for sealed blobs, consent/privacy/sealing.py)."""
        return self._aead.encrypt(nonce, data, associated)

    def unseal(self, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
        """The inverse of seal(); raises cryptography's InvalidTag when it does not authenticate."""
        return self._aead.decrypt(nonce, sealed, associated)

    def decrypt_raw(self, raw: bytes, event_id: str, path: str) -> str:
        header = raw[:_HEADER_BYTES]
        if header != self._header:
            raise FieldDecryptionError(event_id, path, "token was encrypted under another key")
        nonce = raw[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        aad = _VERSION_TAG + header + event_id.encode() + b"\x00" + path.encode()
        try:
            padded = self._aead.decrypt(nonce, raw[_HEADER_BYTES + _NONCE_BYTES :], aad)
            return _unpad(padded).decode()
        except InvalidTag:
            raise FieldDecryptionError(
                event_id, path, "authentication failed (wrong key, tampered token, or token moved from another field)"
            ) from None
        except (ValueError, UnicodeDecodeError):
            raise FieldDecryptionError(event_id, path, "decrypted value is malformed") from None

    def decrypt(self, token: str, event_id: str, path: str) -> str:
        return self.decrypt_raw(_raw(token, event_id, path), event_id, path)


def decode_token(token: str, event_id: str, path: str) -> tuple[TokenHeader, bytes]:
    """Header and raw bytes of a token, for callers that look the key up by header."""
    raw = _raw(token, event_id, path)
    header = TokenHeader(raw[:_SUBJECT_BYTES].hex(), int.from_bytes(raw[_SUBJECT_BYTES:_HEADER_BYTES], "big"))
    return header, raw
