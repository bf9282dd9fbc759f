"""The user registry: who may call the hub, in which roles, for which organisation and offices.

SQLite at <data_dir>/users.db. API tokens are random (256 bits); only their SHA-256 is
stored, with an expiry, so a copy of the database cannot be used to call the hub.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.clock import fixed_utc
from runtime.datadir import private_file

USERS_FILE = "users.db"
TOKEN_PREFIX = "jl_"
DEFAULT_TOKEN_TTL = timedelta(days=30)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    organisation TEXT NOT NULL,
    offices TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(user_id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (user_id);
"""


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


class AuthError(Exception):
    """Authentication failed. `reason` is one of unknown_token, expired_token, revoked_token,
    disabled_user — safe to audit (never contains the token)."""

    def __init__(self, reason: str, user_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.user_id = reason, user_id


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    display_name: str
    roles: tuple[str, ...]
    organisation: str
    offices: tuple[str, ...]
    disabled: bool = False

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once; only its hash is kept
    user_id: str
    expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserRegistry:
    def __init__(self, path: Path | str, *, known_roles: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        private_file(self.path)
        self._known_roles = set(known_roles) if known_roles is not None else None
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path | str, **options: object) -> UserRegistry:
        return cls(Path(data_dir) / USERS_FILE, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> UserRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- users -------------------------------------------------------------------------
    def create_user(self, user_id: str, *, roles: Iterable[str], organisation: str, offices: Iterable[str] = (),
                    display_name: str = "", now: datetime | None = None) -> User:
        roles, offices = tuple(dict.fromkeys(roles)), tuple(dict.fromkeys(offices))
        if not user_id.strip():
            raise UserError("user id is empty")
        if not roles:
            raise UserError(f"user {user_id!r}: at least one role is required")
        if self._known_roles is not None:
            for role in roles:
                if role not in self._known_roles:
                    raise UserError(f"user {user_id!r}: unknown role {role!r} (policy roles: "
                                    f"{', '.join(sorted(self._known_roles))})")
        if not organisation.strip():
            raise UserError(f"user {user_id!r}: organisation is empty")
        with self._lock:
            try:
                self._db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, NULL)",
                                 (user_id, display_name or user_id, json.dumps(roles), organisation,
                                  json.dumps(offices), fixed_utc(now or datetime.now(UTC))))
            except sqlite3.IntegrityError:
                raise UserError(f"user {user_id!r} already exists") from None
        return User(user_id, display_name or user_id, roles, organisation, offices)

    def get(self, user_id: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT user_id, display_name, roles, organisation, offices, disabled_at "
                                   "FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return self._user(row) if row else None

    def list_users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT user_id, display_name, roles, organisation, offices, disabled_at "
                                    "FROM users ORDER BY user_id").fetchall()
        return [self._user(row) for row in rows]

    def place(self, user_id: str, organisation: str, offices: Iterable[str]) -> None:
        """Move a user to another organisation and offices (their roles and tokens stay)."""
        with self._lock:
            changed = self._db.execute("UPDATE users SET organisation = ?, offices = ? WHERE user_id = ?",
                                       (organisation, json.dumps(tuple(dict.fromkeys(offices))), user_id)).rowcount
        if not changed:
            raise UserError(f"no user {user_id!r}")

    def disable(self, user_id: str, now: datetime | None = None) -> None:
        with self._lock:
            changed = self._db.execute("UPDATE users SET disabled_at = ? WHERE user_id = ? AND disabled_at IS NULL",
                                       (fixed_utc(now or datetime.now(UTC)), user_id)).rowcount
        if not changed and self.get(user_id) is None:
            raise UserError(f"no user {user_id!r}")

    @staticmethod
    def _user(row: tuple) -> User:
        return User(row[0], row[1], tuple(json.loads(row[2])), row[3], tuple(json.loads(row[4])), row[5] is not None)

    # --- tokens ------------------------------------------------------------------------
    def issue_token(self, user_id: str, *, ttl: timedelta = DEFAULT_TOKEN_TTL,
                    now: datetime | None = None) -> IssuedToken:
        user = self.get(user_id)
        if user is None:
            raise UserError(f"no user {user_id!r}")
        if user.disabled:
            raise UserError(f"user {user_id!r} is disabled")
        now = now or datetime.now(UTC)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = now + ttl
        with self._lock:
            self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, NULL)",
                             (hash_token(token), user_id, fixed_utc(now), fixed_utc(expires)))
        return IssuedToken(token, user_id, expires)

    def authenticate(self, token: str, now: datetime | None = None) -> User:
        """The token's user, or AuthError naming why not."""
        now = now or datetime.now(UTC)
        with self._lock:
            row = self._db.execute(
                "SELECT t.user_id, t.expires_at, t.revoked_at, u.display_name, u.roles, u.organisation, u.offices, "
                "u.disabled_at FROM tokens t JOIN users u USING (user_id) WHERE t.token_hash = ?",
                (hash_token(token or ""),)).fetchone()
        if row is None:
            raise AuthError("unknown_token")
        user_id, expires_at, revoked_at = row[0], datetime.fromisoformat(row[1]), row[2]
        if revoked_at is not None:
            raise AuthError("revoked_token", user_id)
        if now >= expires_at:
            raise AuthError("expired_token", user_id)
        if row[7] is not None:
            raise AuthError("disabled_user", user_id)
        return User(user_id, row[3], tuple(json.loads(row[4])), row[5], tuple(json.loads(row[6])))

    def revoke_token(self, token: str, now: datetime | None = None) -> bool:
        with self._lock:
            return self._db.execute("UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                                    (fixed_utc(now or datetime.now(UTC)), hash_token(token))).rowcount > 0

    def revoke_user_tokens(self, user_id: str, now: datetime | None = None) -> int:
        with self._lock:
            return self._db.execute("UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                                    (fixed_utc(now or datetime.now(UTC)), user_id)).rowcount

    def active_tokens(self, user_id: str, now: datetime | None = None) -> int:
        now_iso = fixed_utc(now or datetime.now(UTC))
        with self._lock:
            return self._db.execute("SELECT count(*) FROM tokens WHERE user_id = ? AND revoked_at IS NULL "
                                    "AND expires_at > ?", (user_id, now_iso)).fetchone()[0]


# Demo users, one per role, each of a real office of the generated county (清源县: its court, the
# 城关 police station and justice office, the bureau's legal-aid centre, the marriage registry); the
# demo prints their tokens. Offices are what cases carry: a station's code, a justice office's name.
DEMO_USERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("mediator.demo", "mediator", "justice:城关司法所", ("城关司法所",)),
    ("judge.demo", "judge", "court:清源县人民法院", ("411730",)),
    ("clerk.demo", "court_clerk", "court:清源县人民法院", ("411730",)),
    ("police.demo", "police_officer", "police:城关派出所", ("411730010000",)),
    ("correction.demo", "correction_officer", "justice:城关司法所", ("城关司法所",)),
    ("legalaid.demo", "legal_aid_officer", "justice:清源县法律援助中心", ("411730",)),
    ("registrar.demo", "civil_affairs_registrar", "civil_affairs:清源县民政局婚姻登记处", ("411730",)),
    ("dpo.demo", "dpo", "justice:清源县司法局", ()),
    ("bureau.demo", "bureau_officer", "justice:清源县司法局", ("411730",)),
    ("integrator.demo", "integrator", "justice:清源县司法局", ()),
)
DEMO_NAMES = {"mediator.demo": "调解员（演示）", "judge.demo": "法官（演示）", "clerk.demo": "书记员（演示）",
              "police.demo": "民警（演示）", "correction.demo": "社区矫正工作人员（演示）",
              "legalaid.demo": "法律援助工作人员（演示）", "registrar.demo": "婚姻登记员（演示）",
              "dpo.demo": "数据保护官（演示）", "bureau.demo": "司法局统计人员（演示）",
              "integrator.demo": "接入工程师（演示）"}


def create_demo_users(registry: UserRegistry, *, ttl: timedelta = timedelta(days=7), now: datetime | None = None,
                      placed: dict[str, tuple[str, tuple[str, ...]]] | None = None) -> list[IssuedToken]:
    """Create the demo users (or bring them to their demo office: `placed` moves a user to another
    office of the county, user id -> (organisation, offices)) and issue each a fresh token."""
    issued = []
    for user_id, role, organisation, offices in DEMO_USERS:
        organisation, offices = (placed or {}).get(user_id, (organisation, offices))
        if registry.get(user_id) is None:
            registry.create_user(user_id, roles=[role], organisation=organisation, offices=offices,
                                 display_name=DEMO_NAMES.get(user_id, ""), now=now)
        else:
            registry.place(user_id, organisation, offices)
        issued.append(registry.issue_token(user_id, ttl=ttl, now=now))
    return issued
