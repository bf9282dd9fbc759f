"""The protected-field token: round trip, wrong key, tampering, moved ciphertexts (AAD)."""

from __future__ import annotations

import base64
import os

import pytest

from consent.privacy.fields import (
    TOKEN_PREFIX,
    FieldDecryptionError,
    FieldKey,
    decode_token,
    is_token,
    parse_header,
)

SUBJECT = "00112233445566778899aabbccddeeff"
OTHER = "ffeeddccbbaa99887766554433221100"


@pytest.fixture()
def key() -> FieldKey:
    return FieldKey(SUBJECT, 3, os.urandom(32))


def test_round_trip_and_header(key: FieldKey) -> None:
    token = key.encrypt("张伟", "evt-1", "parties[0].name")
    assert token.startswith(TOKEN_PREFIX) and token.isascii() and is_token(token)
    assert "张伟" not in token
    assert key.decrypt(token, "evt-1", "parties[0].name") == "张伟"
    assert parse_header(token) == decode_token(token, "e", "p")[0]
    assert parse_header(token).subject_key == SUBJECT and parse_header(token).dek_version == 3


def test_empty_and_long_values(key: FieldKey) -> None:
    for value in ("", "x" * 15, "x" * 16, "长" * 500):
        assert key.decrypt(key.encrypt(value, "e", "p"), "e", "p") == value


def test_nonces_are_fresh(key: FieldKey) -> None:
    assert key.encrypt("same", "e", "p") != key.encrypt("same", "e", "p")


def test_padding_hides_short_length_differences(key: FieldKey) -> None:
    assert len(key.encrypt("王芳", "e", "p")) == len(key.encrypt("欧阳娜娜", "e", "p"))


def test_wrong_key_fails(key: FieldKey) -> None:
    token = key.encrypt("13812345678", "evt-1", "phone")
    impostor = FieldKey(SUBJECT, 3, os.urandom(32))
    with pytest.raises(FieldDecryptionError, match="authentication failed"):
        impostor.decrypt(token, "evt-1", "phone")
    with pytest.raises(FieldDecryptionError, match="another key"):
        FieldKey(OTHER, 3, os.urandom(32)).decrypt(token, "evt-1", "phone")


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token[len(TOKEN_PREFIX):] + "=="))
    raw[index] ^= 0x01
    return TOKEN_PREFIX + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [25, 40, -1])  # nonce, ciphertext, tag
def test_tampered_token_fails(key: FieldKey, index: int) -> None:
    token = key.encrypt("13812345678", "evt-1", "phone")
    with pytest.raises(FieldDecryptionError, match="event evt-1 field phone"):
        key.decrypt(_flip(token, index), "evt-1", "phone")


def test_edited_header_fails(key: FieldKey) -> None:
    token = key.encrypt("13812345678", "evt-1", "phone")
    with pytest.raises(FieldDecryptionError):
        key.decrypt(_flip(token, 19), "evt-1", "phone")  # version byte


def test_moved_to_another_field_or_event_fails(key: FieldKey) -> None:
    token = key.encrypt("13812345678", "evt-1", "parties[0].phone")
    with pytest.raises(FieldDecryptionError, match="moved"):
        key.decrypt(token, "evt-1", "parties[1].phone")
    with pytest.raises(FieldDecryptionError):
        key.decrypt(token, "evt-1", "parties[0].address")
    with pytest.raises(FieldDecryptionError):
        key.decrypt(token, "evt-2", "parties[0].phone")


@pytest.mark.parametrize("bad", ["13812345678", "jle1.", "jle1.!!!!", "jle1.AAAA", TOKEN_PREFIX + "A" * 90])
def test_malformed_tokens_name_the_field_not_the_value(key: FieldKey, bad: str) -> None:
    with pytest.raises(FieldDecryptionError) as info:
        key.decrypt(bad, "evt-9", "summary")
    assert "evt-9" in str(info.value) and "summary" in str(info.value)
    assert "13812345678" not in str(info.value)


def test_subject_key_must_be_32_hex() -> None:
    with pytest.raises(ValueError):
        FieldKey("not-hex", 1, os.urandom(32))


def test_nonce_pool_never_repeats_across_refills() -> None:
    from consent.privacy.fields import NoncePool

    pool = NoncePool()
    nonces = [pool.take() for _ in range(1000)]  # crosses 15 refills
    assert len(set(nonces)) == 1000 and all(len(n) == 12 for n in nonces)
