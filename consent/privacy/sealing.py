"""Sealed blobs: bytes that stay readable only while EVERY data subject they concern is not erased.

A dead letter's original is a whole source row, which may name several people (an applicant and a
respondent). It is sealed so that erasing any one of them makes it unreadable: a random content key
K encrypts the bytes, and K is split into XOR shares, one encrypted under each subject's data key.
Destroying one subject's key destroys one share, and K with it.

    "jls1" | n[1] | n x ( subject_key[16] | dek_version[4] | nonce[12] | share[32] + tag[16] )
           | nonce[12] | AES-256-GCM_K(data) + tag[16]

Associated data binds every part to the blob's context (e.g. the dead letter id) and to the header:
a share moved to another blob, or a header edited, does not authenticate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent.privacy.keys.base import KeyNotFound
from consent.privacy.protect import Protector

MAGIC = b"jls1"
_SHARE = 16 + 4 + 12 + 32 + 16
_MAX_SUBJECTS = 255


class SealError(ValueError):
    """A blob is not a sealed blob, or does not authenticate; names the context, never the content."""


@dataclass(frozen=True, slots=True)
class Sealed:
    subject_keys: list[str]     # the subjects whose erasure shreds the blob
    blob: bytes


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def seal_many(protector: Protector, items: Sequence[tuple[bytes, Sequence[str], bytes]], agency: str) -> list[Sealed]:
    """Seal each (data, subject keys, context). The subjects' data keys are fetched (or created) in one
    keystore call for the whole batch."""
    wanted = [key for _, keys, _ in items for key in keys]
    keys = protector.data_keys(wanted, agency) if wanted else {}
    sealed = []
    for data, subject_keys, context in items:
        subjects = list(dict.fromkeys(subject_keys))
        if not 0 < len(subjects) <= _MAX_SUBJECTS:
            raise ValueError(f"a sealed blob needs 1 to {_MAX_SUBJECTS} subject keys, got {len(subjects)}")
        content_key = AESGCM.generate_key(256)
        shares = [os.urandom(32) for _ in subjects[1:]]
        last = content_key
        for share in shares:
            last = _xor(last, share)
        shares.insert(0, last)
        header = [MAGIC, bytes([len(subjects)])]
        for index, (subject, share) in enumerate(zip(subjects, shares, strict=True)):
            key = keys[subject]
            nonce = os.urandom(12)
            ident = bytes.fromhex(subject) + key.version.to_bytes(4, "big")
            header += [ident, nonce, key.seal(nonce, share, MAGIC + bytes([index]) + ident + context)]
        head = b"".join(header)
        nonce = os.urandom(12)
        sealed.append(Sealed(subjects, head + nonce + AESGCM(content_key).encrypt(nonce, data, head + context)))
    return sealed


def sealed_subjects(blob: bytes) -> list[str]:
    """The subject keys a blob is sealed under (no key needed)."""
    count = _count(blob)
    return [blob[5 + i * _SHARE: 5 + i * _SHARE + 16].hex() for i in range(count)]


def _count(blob: bytes) -> int:
    if not blob.startswith(MAGIC) or len(blob) < 5:
        raise SealError("not a sealed blob (expected the jls1 prefix)")
    count = blob[4]
    if count == 0 or len(blob) < 5 + count * _SHARE + 12 + 16:
        raise SealError("sealed blob is truncated")
    return count


def unseal(protector: Protector, blob: bytes, context: bytes) -> bytes | None:
    """The sealed bytes, or None when a subject it was sealed under has been erased."""
    count = _count(blob)
    content_key = bytes(32)
    for index in range(count):
        part = blob[5 + index * _SHARE: 5 + (index + 1) * _SHARE]
        ident, nonce, share = part[:20], part[20:32], part[32:]
        subject, version = ident[:16].hex(), int.from_bytes(ident[16:20], "big")
        try:
            key = protector.data_key(subject, version)
        except KeyNotFound:
            raise SealError(f"data key {subject} v{version} is not in the keystore") from None
        if key is None:
            return None
        try:
            content_key = _xor(content_key, key.unseal(nonce, share, MAGIC + bytes([index]) + ident + context))
        except InvalidTag:
            raise SealError("a key share does not authenticate (tampered, or moved from another blob)") from None
    head = blob[:5 + count * _SHARE]
    nonce = blob[len(head): len(head) + 12]
    try:
        return AESGCM(content_key).decrypt(nonce, blob[len(head) + 12:], head + context)
    except InvalidTag:
        raise SealError("the sealed content does not authenticate (tampered, or moved from another blob)") from None
