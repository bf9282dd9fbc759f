"""Keys of the privacy layer: the keystore interface, the local SQLite keystore, the master key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consent.privacy.keys.base import (
    AGENCIES,
    DataKey,
    DestroyResult,
    KeyErased,
    KeyNotFound,
    Keystore,
    KeystoreDamaged,
    KeystoreError,
    KeystoreStatus,
    RotationResult,
)
from consent.privacy.keys.local import KEYSTORE_FILE, LocalKeystore
from consent.privacy.keys.master import (
    MASTER_KEY_ENV,
    MasterKey,
    generate_master_key_file,
    load_master_key,
    master_key_path,
)

__all__ = [
    "AGENCIES", "DataKey", "DestroyResult", "KeyErased", "KeyNotFound", "Keystore", "KeystoreDamaged", "KeystoreError",
    "KeystoreStatus", "RotationResult", "LocalKeystore", "KEYSTORE_FILE", "MASTER_KEY_ENV", "MasterKey",
    "InitReport", "keystore_path", "open_keystore", "init_keystore",
]


def keystore_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEYSTORE_FILE


def open_keystore(data_dir: Path, master_key_file: Path | None = None) -> LocalKeystore:
    """Open <data_dir>/keystore.db with the configured master key."""
    master = load_master_key(Path(data_dir), master_key_file)
    return LocalKeystore.open(keystore_path(data_dir), master.key)


@dataclass(frozen=True, slots=True)
class InitReport:
    keystore: Path
    master_key_source: str
    created_keystore: bool
    created_master_key: bool


def init_keystore(data_dir: Path, master_key_file: Path | None = None) -> InitReport:
    """Create the master key file (unless JUSTLINK_MASTER_KEY is set or the file exists) and the
    keystore (unless it exists, in which case the master key must open it). Idempotent."""
    data_dir = Path(data_dir)
    store_path = keystore_path(data_dir)
    created_master = False
    try:
        master = load_master_key(data_dir, master_key_file)
    except KeystoreError:
        path = master_key_path(data_dir, master_key_file)
        if path.exists() or store_path.exists():
            raise  # a malformed key file, or a keystore whose key is missing: never replace either
        master = generate_master_key_file(path)
        created_master = True
    if store_path.exists():
        LocalKeystore.open(store_path, master.key).close()
        return InitReport(store_path, master.source, False, created_master)
    LocalKeystore.create(store_path, master.key).close()
    return InitReport(store_path, master.source, True, created_master)
