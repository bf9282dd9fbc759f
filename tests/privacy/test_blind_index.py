"""Blind indexes: equal for equal normalised values, domain-separated by kind, stable across processes
and KEK rotations, different under another matching key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from consent.privacy.blind_index import BlindIndexer
from tests.support.privacy import new_keystore, resident_id

KEY = bytes(range(32))
ID = resident_id("11010519900307123")


def test_index_is_16_bytes_hex_and_normalisation_aware() -> None:
    bi = BlindIndexer(KEY)
    value, valid = bi.id_number(ID)
    assert len(value) == 32 and int(value, 16) >= 0 and valid is True
    assert bi.id_number(ID.lower().replace("", " ").strip())[0] == value
    assert bi.phone("138 1234 5678") == bi.phone("+86-138-1234-5678")
    assert bi.name_dob("張偉", "1990/3/7") == bi.name_dob("张伟", "1990-03-07")
    assert bi.agency_person("justice", "jz-1") == bi.agency_person("justice", "JZ-1")
    assert bi.agency_person("justice", "JZ-1") != bi.agency_person("police", "JZ-1")


def test_kinds_are_domain_separated() -> None:
    bi = BlindIndexer(KEY)
    assert bi.dob("1990-03-07") != bi.name_dob("", "1990-03-07")
    assert bi.phone("13812345678") != bi.id_number("13812345678")[0]


def test_different_matching_key_gives_different_indexes() -> None:
    a, b = BlindIndexer(KEY), BlindIndexer(bytes(32))
    assert a.id_number(ID)[0] != b.id_number(ID)[0]
    assert a.phone("13812345678") != b.phone("13812345678")


_CHILD = """
import json, sys
from consent.privacy.keys import LocalKeystore
from consent.privacy.blind_index import BlindIndexer
from consent.privacy.linkage import LinkageEncoder
store = LocalKeystore.open(sys.argv[1], bytes.fromhex(sys.argv[2]))
key = store.matching_key()
bi, clk = BlindIndexer(key), LinkageEncoder(key)
print(json.dumps({"id": bi.id_number(sys.argv[3])[0], "phone": bi.phone("13812345678"),
                  "clk": clk.name("张伟").hex(), "pinyin": clk.name_pinyin("张伟").hex()}))
"""


def _in_child(store_path: Path, master: bytes) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(store_path), master.hex(), ID],
        capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).resolve().parents[2],
    )
    return json.loads(out.stdout)


def test_stable_across_processes_and_kek_rotation(tmp_path: Path) -> None:
    store, master = new_keystore(tmp_path)
    key = store.matching_key()
    bi = BlindIndexer(key)
    first = _in_child(store.path, master)
    assert first["id"] == bi.id_number(ID)[0]
    for agency in ("court", "police"):
        store.rotate_kek(agency)
    store.close()
    second = _in_child(tmp_path / "keystore.db", master)
    assert second == first


def test_another_keystore_has_another_matching_key(tmp_path: Path) -> None:
    store_a, _ = new_keystore(tmp_path / "a")
    store_b, _ = new_keystore(tmp_path / "b")
    assert store_a.matching_key() != store_b.matching_key()
    assert BlindIndexer(store_a.matching_key()).id_number(ID) != BlindIndexer(store_b.matching_key()).id_number(ID)
