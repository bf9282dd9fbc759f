"""A party's access code: given once, at intake, by the office that holds the party's case; with it the
party (or their lawyer) follows the stages of their own dispute and sees who looked at their data.

SQLite at <data_dir>/party_codes.db. A code is 12 characters of Crockford's base-32 (60 bits, no I L O U,
printed `K7QM-4XPR-2HDT`), shown once; only its keyed hash (HMAC-SHA256 under a key derived from the
keystore) is kept, so a copy of the database, without the keystore, neither signs in nor can be searched
for codes. A code is bound to one person and the case it was given for, expires (`code_days` of the
policy's [party_view]), and is revoked when the office gives the party a new one. Signing in with it
opens a short session (`session_minutes`); only the session's hash is kept too. Failed sign-ins are
counted per client and refused for a while after too many.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import unicodedata
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.clock import fixed_utc
from runtime.datadir import private_file

CODES_FILE = "party_codes.db"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"   # Crockford's base 32
CODE_LENGTH = 12
SESSION_PREFIX = "jp_"
_CROCKFORD_ALIASES = str.maketrans("OIL", "011")   # read as Crockford's base 32 reads them
FAILURES_ALLOWED = 10          # failed sign-ins per client ...
FAILURE_WINDOW = timedelta(minutes=15)   # ... within this window, then refused until it passes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS codes (
    code_hash TEXT PRIMARY KEY,
    code_id TEXT NOT NULL UNIQUE,
    person_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS codes_by_party ON codes (person_id, case_id);
CREATE TABLE IF NOT EXISTS sessions (
    session_hash TEXT PRIMARY KEY,
    code_id TEXT NOT NULL REFERENCES codes(code_id),
    expires_at TEXT NOT NULL
);
"""


class CodeError(Exception):
    """A code or session is not accepted. `reason` (unknown_code, expired_code, revoked_code, malformed_code,
    too_many_attempts, unknown_session, expired_session) is safe to audit: it never holds the code."""

    def __init__(self, reason: str, code_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.code_id = reason, code_id


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str          # shown once, to be handed to the party; never stored
    code_id: str       # what the audit trail names instead of the code
    person_id: str
    case_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PartyAccess:
    """A signed-in party: the person and the case the code was given for."""

    code_id: str
    person_id: str
    case_id: str
    expires_at: datetime


def normalise_code(text: str) -> str:
    """A code as typed: full-width characters, lower case, dashes and spaces, O for 0 and I/L for 1."""
    plain = unicodedata.normalize("NFKC", text or "").upper()
    plain = "".join(ch for ch in plain if ch not in "- \t")
    return plain.translate(_CROCKFORD_ALIASES)


def printed(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


class PartyCodes:
    def __init__(self, path: Path | str, key: bytes) -> None:
        self.path = Path(path)
        private_file(self.path)
        self._key = key
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._failures: dict[str, deque[datetime]] = {}

    @classmethod
    def open(cls, data_dir: Path | str, key: bytes) -> PartyCodes:
        return cls(Path(data_dir) / CODES_FILE, key)

    def close(self) -> None:
        self._db.close()

    def _hash(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()

    # -- the office ---------------------------------------------------------------------------------
    def issue(self, person_id: str, case_id: str, issued_by: str, *, valid: timedelta,
              now: datetime | None = None) -> IssuedCode:
        """A new code for the party of a case; an earlier code of the same party and case is revoked."""
        now = now or datetime.now(UTC)
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        code_id = "PC" + secrets.token_hex(8)
        expires = now + valid
        with self._lock:
            self._db.execute("UPDATE codes SET revoked_at = ? WHERE person_id = ? AND case_id = ? AND revoked_at "
                             "IS NULL", (fixed_utc(now), person_id, case_id))
            self._db.execute("INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                             (self._hash("code", code), code_id, person_id, case_id, issued_by, fixed_utc(now),
                              fixed_utc(expires)))
        return IssuedCode(printed(code), code_id, person_id, case_id, expires)

    def revoke_person(self, person_id: str, now: datetime | None = None) -> int:
        """Every code of a person (an erasure, a complaint)."""
        with self._lock:
            return self._db.execute("UPDATE codes SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL",
                                    (fixed_utc(now or datetime.now(UTC)), person_id)).rowcount

    # -- the party ----------------------------------------------------------------------------------
    def sign_in(self, code: str, client: str, *, session: timedelta,
                now: datetime | None = None) -> tuple[str, PartyAccess]:
        """A session for a valid code: (session token, what it opens). CodeError names why not; a client
        with too many recent failures is refused before its code is even looked at."""
        now = now or datetime.now(UTC)
        self._check_attempts(client, now)
        plain = normalise_code(code)
        try:
            if len(plain) != CODE_LENGTH or any(ch not in ALPHABET for ch in plain):
                raise CodeError("malformed_code")
            with self._lock:
                row = self._db.execute("SELECT code_id, person_id, case_id, expires_at, revoked_at FROM codes "
                                       "WHERE code_hash = ?", (self._hash("code", plain),)).fetchone()
            if row is None:
                raise CodeError("unknown_code")
            if row[4] is not None:
                raise CodeError("revoked_code", row[0])
            if now >= datetime.fromisoformat(row[3]):
                raise CodeError("expired_code", row[0])
        except CodeError:
            self._failed(client, now)
            raise
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        expires = min(now + session, datetime.fromisoformat(row[3]))
        with self._lock:
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (self._hash("session", token), row[0],
                                                                       fixed_utc(expires)))
        return token, PartyAccess(row[0], row[1], row[2], expires)

    def session(self, token: str, now: datetime | None = None) -> PartyAccess:
        """What a session opens, or CodeError (unknown_session, expired_session, revoked_code)."""
        now = now or datetime.now(UTC)
        with self._lock:
            row = self._db.execute(
                "SELECT c.code_id, c.person_id, c.case_id, s.expires_at, c.revoked_at FROM sessions s "
                "JOIN codes c USING (code_id) WHERE s.session_hash = ?", (self._hash("session", token or ""),)
            ).fetchone()
        if row is None:
            raise CodeError("unknown_session")
        if row[4] is not None:
            raise CodeError("revoked_code", row[0])
        expires = datetime.fromisoformat(row[3])
        if now >= expires:
            raise CodeError("expired_session", row[0])
        return PartyAccess(row[0], row[1], row[2], expires)

    def _check_attempts(self, client: str, now: datetime) -> None:
        with self._lock:
            recent = self._failures.get(client)
            while recent and recent[0] <= now - FAILURE_WINDOW:
                recent.popleft()
            if recent is not None and len(recent) >= FAILURES_ALLOWED:
                raise CodeError("too_many_attempts")

    def _failed(self, client: str, now: datetime) -> None:
        with self._lock:
            self._failures.setdefault(client, deque()).append(now)
