"""Console-only state in ``DIR/console.sqlite``: users, sessions, case status, prompt reveals.

Passwords are hashed with argon2id (argon2-cffi). A session is a random id stored server-side
with its own CSRF token; the browser gets the id signed with itsdangerous in an ``HttpOnly``,
``SameSite=Strict`` cookie, so logging out or expiring a session really ends it. Actions and
the audit log live elsewhere (``distillguard.online``); this file holds nothing a detector
or the online service reads.
"""

from __future__ import annotations

import hmac
import re
import secrets
import sqlite3
import threading
import time
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..errors import InvalidParameterError

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin")
ROLE_RANK = {r: i for i, r in enumerate(ROLES)}
CASE_STATUSES: tuple[str, ...] = ("new", "in review", "actioned", "dismissed")
SESSION_TTL_S = 8 * 3600
REVEAL_TTL_S = 15 * 60
MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, pw_hash TEXT NOT NULL, role TEXT NOT NULL,
    created_at REAL NOT NULL, created_by TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY, username TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS case_status (
    case_kind TEXT NOT NULL, case_id TEXT NOT NULL, status TEXT NOT NULL,
    updated_at REAL NOT NULL, updated_by TEXT NOT NULL, PRIMARY KEY (case_kind, case_id));
CREATE TABLE IF NOT EXISTS reveals (
    username TEXT NOT NULL, subject_kind TEXT NOT NULL, subject_id TEXT NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (username, subject_kind, subject_id));
"""


class ConsoleDB:
    """Users, sessions, case status and reveal grants in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        self._con.row_factory = sqlite3.Row
        self._hasher = PasswordHasher()
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.executescript(_SCHEMA)
            row = self._con.execute("SELECT value FROM settings WHERE key='secret'").fetchone()
            if row is None:
                self._con.execute(
                    "INSERT INTO settings(key, value) VALUES ('secret', ?)",
                    (secrets.token_hex(32),),
                )
            self._con.commit()
            secret = self._con.execute("SELECT value FROM settings WHERE key='secret'").fetchone()[0]
        self.signer = URLSafeTimedSerializer(secret, salt="distillguard-console-session")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _q(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            rows = self._con.execute(sql, args).fetchall()
            self._con.commit()
        return rows

    # ---- users ----------------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str, created_by: str) -> None:
        """Create a user; raises InvalidParameterError on a bad name, role, weak password or
        an existing user."""
        if not _USERNAME.match(username or ""):
            raise InvalidParameterError(
                "username must be 2-64 characters of letters, digits, '_', '.', '@' or '-'"
            )
        if role not in ROLES:
            raise InvalidParameterError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        if len(password or "") < MIN_PASSWORD:
            raise InvalidParameterError(f"password must be at least {MIN_PASSWORD} characters")
        try:
            self._q(
                "INSERT INTO users(username, pw_hash, role, created_at, created_by) "
                "VALUES (?,?,?,?,?)",
                (username, self._hasher.hash(password), role, time.time(), created_by),
            )
        except sqlite3.IntegrityError as exc:
            raise InvalidParameterError(f"user {username!r} already exists") from exc

    def users(self) -> list[dict]:
        return [
            dict(r)
            for r in self._q(
                "SELECT username, role, created_at, created_by, disabled FROM users ORDER BY username"
            )
        ]

    def n_users(self) -> int:
        return int(self._q("SELECT count(*) FROM users")[0][0])

    def set_disabled(self, username: str, disabled: bool) -> None:
        self._q("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username))
        if disabled:
            self._q("DELETE FROM sessions WHERE username = ?", (username,))

    def authenticate(self, username: str, password: str) -> dict | None:
        """The user row when the password matches (and the user is enabled), else None."""
        rows = self._q("SELECT * FROM users WHERE username = ?", (username or "",))
        if not rows:
            # Spend the same time as a real check so a timing probe cannot list usernames.
            try:
                self._hasher.verify(_dummy_hash(), password or "")
            except (VerificationError, InvalidHashError):
                pass
            return None
        row = dict(rows[0])
        try:
            self._hasher.verify(row["pw_hash"], password or "")
        except (VerificationError, InvalidHashError):
            return None
        if row["disabled"]:
            return None
        if self._hasher.check_needs_rehash(row["pw_hash"]):
            self._q(
                "UPDATE users SET pw_hash = ? WHERE username = ?",
                (self._hasher.hash(password), username),
            )
        return row

    # ---- sessions -------------------------------------------------------------------------
    def new_session(self, username: str) -> tuple[str, str]:
        """Create a session; returns (signed cookie value, csrf token)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        self._q("DELETE FROM sessions WHERE expires_at < ?", (now,))
        self._q(
            "INSERT INTO sessions(sid, username, csrf, created_at, expires_at) VALUES (?,?,?,?,?)",
            (sid, username, csrf, now, now + SESSION_TTL_S),
        )
        return self.signer.dumps(sid), csrf

    def session(self, cookie: str | None) -> dict | None:
        """The session and its user for a signed cookie, or None (bad signature, expired,
        logged out or disabled user)."""
        if not cookie:
            return None
        try:
            sid = self.signer.loads(cookie, max_age=SESSION_TTL_S)
        except BadSignature:
            return None
        rows = self._q(
            "SELECT s.sid, s.csrf, s.expires_at, u.username, u.role FROM sessions s "
            "JOIN users u USING (username) WHERE s.sid = ? AND s.expires_at > ? AND u.disabled = 0",
            (sid, time.time()),
        )
        return dict(rows[0]) if rows else None

    def end_session(self, sid: str) -> None:
        self._q("DELETE FROM sessions WHERE sid = ?", (sid,))

    # ---- case status ------------------------------------------------------------------------
    def set_status(self, case_kind: str, case_id: str, status: str, actor: str) -> None:
        if status not in CASE_STATUSES:
            raise InvalidParameterError(
                f"status must be one of {', '.join(CASE_STATUSES)}; got {status!r}"
            )
        self._q(
            "INSERT INTO case_status(case_kind, case_id, status, updated_at, updated_by) "
            "VALUES (?,?,?,?,?) ON CONFLICT(case_kind, case_id) DO UPDATE SET "
            "status = excluded.status, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (case_kind, case_id, status, time.time(), actor),
        )

    def status(self, case_kind: str, case_id: str) -> str:
        rows = self._q(
            "SELECT status FROM case_status WHERE case_kind = ? AND case_id = ?", (case_kind, case_id)
        )
        return rows[0][0] if rows else "new"

    def statuses(self) -> list[tuple[str, str, str]]:
        """Every case whose status is not ``new`` (few: only cases an analyst touched)."""
        return [tuple(r) for r in self._q("SELECT case_kind, case_id, status FROM case_status")]

    # ---- prompt reveals ---------------------------------------------------------------------
    def grant_reveal(self, username: str, subject_kind: str, subject_id: str) -> float:
        exp = time.time() + REVEAL_TTL_S
        self._q(
            "INSERT OR REPLACE INTO reveals(username, subject_kind, subject_id, expires_at) "
            "VALUES (?,?,?,?)",
            (username, subject_kind, subject_id, exp),
        )
        return exp

    def can_reveal(self, username: str, subject_kind: str, subject_id: str) -> bool:
        rows = self._q(
            "SELECT 1 FROM reveals WHERE username = ? AND subject_kind = ? AND subject_id = ? "
            "AND expires_at > ?",
            (username, subject_kind, subject_id, time.time()),
        )
        return bool(rows)


def has_role(role: str, needed: str) -> bool:
    """Whether ``role`` is at least ``needed`` (viewer < analyst < admin)."""
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (False when either is missing).

    As bytes: ``hmac.compare_digest`` raises TypeError on non-ASCII strings (a 500).
    """
    if not a or not b:
        return False
    return hmac.compare_digest(str(a).encode("utf-8", "replace"), str(b).encode("utf-8", "replace"))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return PasswordHasher().hash(secrets.token_hex(16))
