"""The local keystore: one SQLite file (<data_dir>/keystore.db) in which every key is wrapped.

- KEKs and the matching key are wrapped (AES-256-GCM) under a key derived from the master key with
  HKDF-SHA256; DEKs are wrapped under their agency's KEK version. Each wrap binds its context as
  associated data (kind, agency, subject key, versions), so a wrapped key cannot be swapped into
  another row.
- A check value wrapped under the master key tells a wrong master key from a damaged file.
- Erasure sets a DEK's wrapped bytes to NULL with ``PRAGMA secure_delete`` on (freed cell content is
  zeroed) and checkpoints the WAL, so the destroyed key does not linger in the file. Copies outside
  the file (backups, filesystem snapshots) are the operator's to manage; see consent/privacy/PRIVACY.md.
- Writers take ``BEGIN IMMEDIATE``: several processes may share the file, and two that create the
  same subject's DEK at once end up with one (the second reads the first's).
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consent.privacy.keys.base import (
    AGENCIES,
    AgencyStatus,
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

KEYSTORE_FILE = "keystore.db"
FORMAT = b"justlink-keystore-1"
_NONCE = 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS matching_keys (
    version INTEGER PRIMARY KEY, wrapped BLOB NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keks (
    agency TEXT NOT NULL, version INTEGER NOT NULL, wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL, retired_at TEXT, PRIMARY KEY (agency, version));
CREATE TABLE IF NOT EXISTS deks (
    subject_key TEXT NOT NULL, version INTEGER NOT NULL, agency TEXT NOT NULL,
    kek_version INTEGER NOT NULL, wrapped BLOB, created_at TEXT NOT NULL, destroyed_at TEXT,
    PRIMARY KEY (subject_key, version));
CREATE INDEX IF NOT EXISTS deks_by_agency ON deks (agency, kek_version);
"""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _wrap(key: AESGCM, secret: bytes, aad: str) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + key.encrypt(nonce, secret, aad.encode())


def _unwrap(key: AESGCM, blob: bytes, aad: str, what: str = "", path: Path | None = None) -> bytes:
    """Unwrap a key; a wrap that does not authenticate (a flipped bit, a row edited or moved) is a
    KeystoreDamaged naming the key — never a traceback, never key material."""
    try:
        return key.decrypt(blob[:_NONCE], blob[_NONCE:], aad.encode())
    except (InvalidTag, ValueError):
        if not what:
            raise
        raise KeystoreDamaged(f"{what} in keystore {path} does not authenticate: the file is damaged or was "
                              "tampered with. Stop the hub and restore keystore.db from backup (it opens with the "
                              "same master key); values under that key stay unreadable until then") from None


def _damaged(path: Path, exc: sqlite3.DatabaseError) -> KeystoreDamaged:
    return KeystoreDamaged(f"keystore {path} is damaged ({exc}): stop the hub and restore keystore.db from backup "
                           "(it opens with the same master key); `sqlite3 keystore.db \"PRAGMA integrity_check\"` "
                           "shows the damage")


def _guarded(method):
    """Keystore methods report a damaged SQLite file as KeystoreDamaged naming it."""
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from None
    call.__name__, call.__qualname__, call.__doc__ = method.__name__, method.__qualname__, method.__doc__
    return call


def _dek_aad(subject_key: str, version: int, agency: str, kek_version: int) -> str:
    return f"dek|{subject_key}|{version}|{agency}|{kek_version}"


def _dek_name(subject_key: str, version: int) -> str:
    return f"the data key of subject {subject_key} v{version}"


class LocalKeystore(Keystore):
    """Keystore in one SQLite file. Open with `LocalKeystore.open` or create with `LocalKeystore.create`."""

    def __init__(self, path: Path, master_key: bytes, connection: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._db = connection
        self._lock = threading.RLock()
        wrapping = HKDF(hashes.SHA256(), 32, salt=None, info=b"justlink keystore master-wrap v1").derive(master_key)
        self._master = AESGCM(wrapping)
        self._keks: dict[tuple[str, int], AESGCM] = {}
        self._matching: bytes | None = None

    # -- opening -------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        db.execute("PRAGMA secure_delete = ON")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")  # a lost DEK is lost data: fsync every commit
        return db

    @classmethod
    def create(cls, path: Path, master_key: bytes, agencies: Iterable[str] = AGENCIES) -> LocalKeystore:
        """Create a new keystore file with a matching key and one KEK per agency."""
        path = Path(path)
        if path.exists():
            raise KeystoreError(f"keystore {path} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        store = cls(path, master_key, cls._connect(path))
        with store._lock:
            store._db.executescript(_SCHEMA)
            store._begin()
            try:
                store._db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
                check = _wrap(store._master, FORMAT, "master-check")
                store._db.execute("INSERT INTO meta VALUES ('master_check', ?)", (check,))
                store._db.execute("INSERT INTO meta VALUES ('erasure_epoch', 0)")
                matching = _wrap(store._master, os.urandom(32), "matching|1")
                store._db.execute("INSERT INTO matching_keys VALUES (1, ?, ?)", (matching, _now()))
                for agency in agencies:
                    store._ensure_kek(agency)
                store._db.execute("COMMIT")
            except BaseException:
                store._db.execute("ROLLBACK")
                raise
        return store

    @classmethod
    def open(cls, path: Path, master_key: bytes) -> LocalKeystore:
        """Open an existing keystore; KeystoreError if it is missing or the master key does not open it."""
        path = Path(path)
        if not path.is_file():
            raise KeystoreError(f"no keystore at {path}: run `justlink keys init`")
        try:
            store = cls(path, master_key, cls._connect(path))
            rows = dict(store._db.execute("SELECT name, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise _damaged(path, exc) from None
        if rows.get("format") != FORMAT:
            raise KeystoreError(f"{path} is not a JustLink keystore (format {rows.get('format')!r})")
        try:
            _unwrap(store._master, rows["master_check"], "master-check")
        except InvalidTag:
            raise KeystoreError(
                f"the master key does not open keystore {path} (wrong JUSTLINK_MASTER_KEY or key file?)"
            ) from None
        return store

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals -------------------------------------------------------------------------------

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _kek(self, agency: str, version: int) -> AESGCM:
        cached = self._keks.get((agency, version))
        if cached is not None:
            return cached
        row = self._db.execute(
            "SELECT wrapped FROM keks WHERE agency = ? AND version = ?", (agency, version)
        ).fetchone()
        if row is None:
            raise KeyNotFound(f"no KEK version {version} for agency {agency!r}")
        kek = AESGCM(_unwrap(self._master, row[0], f"kek|{agency}|{version}",
                             f"the key-encryption key of agency {agency!r} v{version}", self.path))
        self._keks[(agency, version)] = kek
        return kek

    def _current_kek_version(self, agency: str) -> int | None:
        row = self._db.execute("SELECT max(version) FROM keks WHERE agency = ?", (agency,)).fetchone()
        return row[0]

    def _ensure_kek(self, agency: str) -> int:
        """Inside a write transaction: the agency's current KEK version, creating version 1."""
        if not agency or "|" in agency:
            raise KeystoreError(f"invalid agency name {agency!r}")
        version = self._current_kek_version(agency)
        if version is None:
            version = 1
            wrapped = _wrap(self._master, os.urandom(32), f"kek|{agency}|{version}")
            self._db.execute("INSERT INTO keks VALUES (?, ?, ?, ?, NULL)", (agency, version, wrapped, _now()))
        return version

    def _write(self, work):
        with self._lock:
            self._begin()
            try:
                result = work()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return result

    # -- interface -------------------------------------------------------------------------------

    @_guarded
    def matching_key(self) -> bytes:
        with self._lock:
            if self._matching is None:
                row = self._db.execute("SELECT version, wrapped FROM matching_keys ORDER BY version LIMIT 1").fetchone()
                if row is None:
                    raise KeyNotFound("keystore has no matching key")
                self._matching = _unwrap(self._master, row[1], f"matching|{row[0]}",
                                         f"the matching key v{row[0]}", self.path)
            return self._matching

    @_guarded
    def ensure_agency(self, agency: str) -> int:
        return self._write(lambda: self._ensure_kek(agency))

    @_guarded
    def current_deks(self, subject_keys: Iterable[str], agency: str) -> dict[str, DataKey]:
        wanted = list(dict.fromkeys(subject_keys))
        if not wanted:
            return {}

        def work() -> dict[str, DataKey]:
            kek_version = self._ensure_kek(agency)
            found: dict[str, DataKey] = {}
            for subject_key in wanted:
                row = self._db.execute(
                    "SELECT version, agency, kek_version, wrapped FROM deks WHERE subject_key = ?"
                    " ORDER BY version DESC LIMIT 1",
                    (subject_key,),
                ).fetchone()
                if row is not None and row[3] is not None:
                    version, row_agency, row_kek, wrapped = row
                    aad = _dek_aad(subject_key, version, row_agency, row_kek)
                    found[subject_key] = DataKey(subject_key, version, _unwrap(
                        self._kek(row_agency, row_kek), wrapped, aad, _dek_name(subject_key, version), self.path))
                    continue
                version = row[0] + 1 if row is not None else 1
                key = os.urandom(32)
                aad = _dek_aad(subject_key, version, agency, kek_version)
                wrapped = _wrap(self._kek(agency, kek_version), key, aad)
                self._db.execute(
                    "INSERT INTO deks VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    (subject_key, version, agency, kek_version, wrapped, _now()),
                )
                found[subject_key] = DataKey(subject_key, version, key)
            return found

        return self._write(work)

    @_guarded
    def dek(self, subject_key: str, version: int) -> bytes:
        with self._lock:
            row = self._db.execute(
                "SELECT agency, kek_version, wrapped FROM deks WHERE subject_key = ? AND version = ?",
                (subject_key, version),
            ).fetchone()
            if row is None:
                raise KeyNotFound(f"no data key {subject_key} v{version}")
            agency, kek_version, wrapped = row
            if wrapped is None:
                raise KeyErased(f"data key {subject_key} v{version} was erased")
            return _unwrap(self._kek(agency, kek_version), wrapped, _dek_aad(subject_key, version, agency, kek_version),
                           _dek_name(subject_key, version), self.path)

    @_guarded
    def rotate_kek(self, agency: str) -> RotationResult:
        def work() -> RotationResult:
            old = self._current_kek_version(agency)
            new = (old or 0) + 1
            wrapped_kek = _wrap(self._master, os.urandom(32), f"kek|{agency}|{new}")
            self._db.execute("INSERT INTO keks VALUES (?, ?, ?, ?, NULL)", (agency, new, wrapped_kek, _now()))
            new_kek = self._kek(agency, new)
            rows = self._db.execute(
                "SELECT subject_key, version, kek_version, wrapped FROM deks"
                " WHERE agency = ? AND wrapped IS NOT NULL AND kek_version < ?",
                (agency, new),
            ).fetchall()
            for subject_key, version, kek_version, wrapped in rows:
                key = _unwrap(self._kek(agency, kek_version), wrapped, _dek_aad(subject_key, version, agency, kek_version),
                              _dek_name(subject_key, version), self.path)
                rewrapped = _wrap(new_kek, key, _dek_aad(subject_key, version, agency, new))
                self._db.execute(
                    "UPDATE deks SET kek_version = ?, wrapped = ? WHERE subject_key = ? AND version = ?",
                    (new, rewrapped, subject_key, version),
                )
            self._db.execute(
                "UPDATE keks SET retired_at = ? WHERE agency = ? AND version < ? AND retired_at IS NULL",
                (_now(), agency, new),
            )
            return RotationResult(agency, old, new, len(rows))

        return self._write(work)

    @_guarded
    def destroy_subjects(self, subject_keys: Iterable[str]) -> DestroyResult:
        wanted = list(dict.fromkeys(subject_keys))

        def work() -> DestroyResult:
            destroyed, already, missing, count = [], [], [], 0
            now = _now()
            for subject_key in wanted:
                live = self._db.execute(
                    "UPDATE deks SET wrapped = NULL, destroyed_at = ? WHERE subject_key = ? AND wrapped IS NOT NULL",
                    (now, subject_key),
                ).rowcount
                if live:
                    destroyed.append(subject_key)
                    count += live
                elif self._db.execute("SELECT 1 FROM deks WHERE subject_key = ?", (subject_key,)).fetchone():
                    already.append(subject_key)
                else:
                    missing.append(subject_key)
            if count:
                self._db.execute("UPDATE meta SET value = value + 1 WHERE name = 'erasure_epoch'")
            return DestroyResult(destroyed, already, missing, count)

        result = self._write(work)
        with self._lock:
            # Move the zeroed pages into the main file and empty the WAL, so no copy of a destroyed
            # key stays in the write-ahead log.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return result

    @_guarded
    def erasure_epoch(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE name = 'erasure_epoch'").fetchone()[0])

    @_guarded
    def status(self) -> KeystoreStatus:
        with self._lock:
            matching = self._db.execute("SELECT max(version) FROM matching_keys").fetchone()[0] or 0
            agencies = []
            for agency, current, versions in self._db.execute(
                "SELECT agency, max(version), count(*) FROM keks GROUP BY agency ORDER BY agency"
            ).fetchall():
                live, erased = self._db.execute(
                    "SELECT count(*) FILTER (WHERE wrapped IS NOT NULL), count(*) FILTER (WHERE wrapped IS NULL)"
                    " FROM deks WHERE agency = ?",
                    (agency,),
                ).fetchone()
                agencies.append(AgencyStatus(agency, current, versions, live, erased))
            return KeystoreStatus(str(self.path), matching, agencies, self.erasure_epoch())
