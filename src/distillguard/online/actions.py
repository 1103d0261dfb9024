"""Active enforcement actions, the allow-list and analyst labels, in one SQLite file.

An action has a subject (``request``, ``account`` or ``cluster`` scope and an id), a kind
(``allow, log, challenge, rate_limit, degrade, block``; ``suspend`` is accepted as an alias of
``block``), who applied it and why, and an optional expiry. Reversing an action (an appeal)
keeps the row and marks it reversed; nothing is deleted. When the store is built with an
:class:`~distillguard.online.audit.AuditLog` every change is also written there.

The online scorer does not query SQLite per request: it keeps an in-memory copy and refreshes
it when :meth:`ActionStore.generation` changes (another process, e.g. the console, wrote).

>>> import tempfile, pathlib
>>> store = ActionStore(pathlib.Path(tempfile.mkdtemp()) / "actions.sqlite")
>>> aid = store.apply("account", "acct-9", "suspend", actor="analyst", reason="confirmed")
>>> store.active("acct-9")[0]["action"]
'block'
>>> store.reverse(aid, actor="analyst", reason="appeal upheld"); store.active("acct-9")
[]
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError
from .audit import AuditLog

ACTIONS: tuple[str, ...] = ("allow", "log", "challenge", "rate_limit", "degrade", "block")
# A passed verification step (a ``challenge`` answered): a fact about the account kept in the
# actions table (audited, reversible, may expire), not an action a rule or an analyst applies.
VERIFIED = "verified"
ACTION_ALIASES: dict[str, str] = {"suspend": "block", "ban": "block", "throttle": "rate_limit"}
SCOPES: tuple[str, ...] = ("request", "account", "cluster")
# How strongly an action restricts traffic; the strongest applicable one wins.
SEVERITY: dict[str, int] = {
    "allow": 0,
    "log": 1,
    "degrade": 2,
    "rate_limit": 3,
    "challenge": 4,
    "block": 5,
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    params TEXT NOT NULL DEFAULT '{}',
    reversed_at REAL,
    reversed_by TEXT,
    reverse_reason TEXT
);
CREATE INDEX IF NOT EXISTS actions_subject ON actions(subject_id);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    label TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_account ON labels(account_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL);
"""


def normalize_action(action: str) -> str:
    """The canonical action name (aliases mapped); raises on anything unknown."""
    a = ACTION_ALIASES.get(str(action).lower(), str(action).lower())
    if a not in ACTIONS:
        raise InvalidParameterError(
            f"action must be one of {', '.join(ACTIONS)} (or alias {', '.join(ACTION_ALIASES)}); "
            f"got {action!r}"
        )
    return a


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise InvalidParameterError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    return scope


class ActionStore:
    """Actions, allow-list and labels in SQLite at ``path``; audited when given an AuditLog."""

    def __init__(self, path: Path | str, audit: AuditLog | None = None) -> None:
        self.path = Path(path)
        self.audit = audit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by threads, serialised by our lock; WAL lets a console
        # process read and write the same file at the same time.
        self._con = sqlite3.connect(str(self.path), check_same_thread=False, timeout=10.0)
        self._con.row_factory = sqlite3.Row
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: no corruption on a crash, at most the last commits lost on power
            # loss; a commit costs no fsync (the audit log is the durable record).
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(_SCHEMA)
            self._con.commit()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # ---- writing ------------------------------------------------------------------------
    def apply(
        self,
        subject_kind: str,
        subject_id: str,
        action: str,
        actor: str,
        reason: str,
        expires_at: float | None = None,
        params: dict | None = None,
        evidence: list[dict] | None = None,
        rule: str | None = None,
        policy_version: str | None = None,
    ) -> int:
        """Record an action and return its id (audited when the store has an AuditLog)."""
        _check_scope(subject_kind)
        act = normalize_action(action)
        if not subject_id:
            raise InvalidParameterError("subject_id must be a non-empty string")
        now = time.time()
        if expires_at is not None and expires_at <= now:
            raise InvalidParameterError(f"expires_at must be in the future; got {expires_at}")
        with self._lock, self._audited_write() as audit:
            cur = self._con.execute(
                "INSERT INTO actions(subject_kind, subject_id, action, actor, reason, created_at,"
                " expires_at, params) VALUES (?,?,?,?,?,?,?,?)",
                (
                    subject_kind,
                    str(subject_id),
                    act,
                    actor,
                    reason,
                    now,
                    expires_at,
                    json.dumps(params or {}, sort_keys=True),
                ),
            )
            self._bump()
            action_id = int(cur.lastrowid)
            extra = {"action_id": action_id, "expires_at": expires_at, "params": params or {}}
            if action != act:
                extra["requested_action"] = action
            audit(
                act,
                subject_kind,
                str(subject_id),
                actor,
                reason,
                evidence=evidence,
                rule=rule,
                policy_version=policy_version,
                extra=extra,
            )
        return action_id

    def reverse(self, action_id: int, actor: str, reason: str) -> None:
        """Reverse an active action (an appeal); the reversal is audited."""
        if not reason:
            raise InvalidParameterError("a reversal needs a reason")
        with self._lock:
            row = self._con.execute(
                "SELECT * FROM actions WHERE id = ?", (int(action_id),)
            ).fetchone()
            if row is None:
                raise InvalidParameterError(f"no action with id {action_id}")
            if row["reversed_at"] is not None:
                raise InvalidParameterError(f"action {action_id} was already reversed")
            with self._audited_write() as audit:
                self._con.execute(
                    "UPDATE actions SET reversed_at = ?, reversed_by = ?, reverse_reason = ?"
                    " WHERE id = ?",
                    (time.time(), actor, reason, int(action_id)),
                )
                self._bump()
                audit(
                    "reverse",
                    row["subject_kind"],
                    row["subject_id"],
                    actor,
                    reason,
                    extra={"action_id": int(action_id), "reversed_action": row["action"]},
                )

    def allow(
        self, account_id: str, actor: str, reason: str, expires_at: float | None = None
    ) -> int:
        """Put an account on the allow-list (a verified customer); returns the action id."""
        return self.apply("account", account_id, "allow", actor, reason, expires_at=expires_at)

    def verify(
        self,
        account_id: str,
        actor: str,
        method: str,
        reason: str = "",
        expires_at: float | None = None,
    ) -> int:
        """Record that the account passed a verification step (``method``: the operator's,
        e.g. ``sms``, ``card``, ``id``); audited as ``challenge_passed``, reversible with
        :meth:`reverse`. Returns its id."""
        if not account_id or not method:
            raise InvalidParameterError("a passed challenge needs an account_id and a method")
        now = time.time()
        if expires_at is not None and not (math.isfinite(expires_at) and expires_at > now):
            raise InvalidParameterError(f"expires_at must be in the future; got {expires_at}")
        why = reason or f"passed verification ({method})"
        with self._lock, self._audited_write() as audit:
            cur = self._con.execute(
                "INSERT INTO actions(subject_kind, subject_id, action, actor, reason, created_at,"
                " expires_at, params) VALUES ('account', ?, ?, ?, ?, ?, ?, ?)",
                (str(account_id), VERIFIED, actor, why, now, expires_at,
                 json.dumps({"method": method})),
            )
            self._bump()
            vid = int(cur.lastrowid)
            audit("challenge_passed", "account", str(account_id), actor, why,
                  extra={"action_id": vid, "method": method, "expires_at": expires_at})
        return vid

    def label(self, account_id: str, label: str, actor: str) -> int:
        """Record an analyst label (e.g. ``attack``, ``benign``) for an account; audited."""
        if not label:
            raise InvalidParameterError("label must be a non-empty string")
        with self._lock, self._audited_write() as audit:
            cur = self._con.execute(
                "INSERT INTO labels(account_id, label, actor, created_at) VALUES (?,?,?,?)",
                (str(account_id), str(label), actor, time.time()),
            )
            label_id = int(cur.lastrowid)
            audit(
                "label",
                "account",
                str(account_id),
                actor,
                f"labelled {label}",
                extra={"label": label, "label_id": label_id},
            )
        return label_id

    # ---- reading ------------------------------------------------------------------------
    def active(self, subject_id: str | None = None) -> list[dict]:
        """Unexpired, unreversed actions (of one subject, or all), newest first."""
        now = time.time()
        sql = (
            "SELECT * FROM actions WHERE reversed_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)"
        )
        args: list[Any] = [now]
        if subject_id is not None:
            sql += " AND subject_id = ?"
            args.append(str(subject_id))
        sql += " ORDER BY id DESC"
        with self._lock:
            rows = self._con.execute(sql, args).fetchall()
        return [_row(r) for r in rows]

    def is_allowed(self, account_id: str) -> bool:
        """True when the account has an active ``allow`` action."""
        return any(
            a["action"] == "allow" and a["subject_kind"] == "account"
            for a in self.active(account_id)
        )

    def history(self, subject_id: str) -> list[dict]:
        """Every action (incl. expired and reversed) and label of a subject, oldest first."""
        with self._lock:
            acts = self._con.execute(
                "SELECT * FROM actions WHERE subject_id = ? ORDER BY id", (str(subject_id),)
            ).fetchall()
            labs = self._con.execute(
                "SELECT * FROM labels WHERE account_id = ? ORDER BY id", (str(subject_id),)
            ).fetchall()
        out = [_row(r) for r in acts]
        out += [
            {
                "kind": "label",
                "id": r["id"],
                "subject_kind": "account",
                "subject_id": r["account_id"],
                "action": "label",
                "label": r["label"],
                "actor": r["actor"],
                "created_at": r["created_at"],
                "status": "recorded",
            }
            for r in labs
        ]
        out.sort(key=lambda d: d["created_at"])
        return out

    def labels(self, account_id: str | None = None) -> list[dict]:
        """Analyst labels, oldest first (the latest one per account is the current label)."""
        sql, args = "SELECT * FROM labels", []
        if account_id is not None:
            sql, args = sql + " WHERE account_id = ?", [str(account_id)]
        with self._lock:
            rows = self._con.execute(sql + " ORDER BY id", args).fetchall()
        return [dict(r) for r in rows]

    def note(self, key: str) -> str | None:
        """The service's own note ``key`` (e.g. ``verdicts.AttackHistory``), None if unset."""
        with self._lock:
            row = self._con.execute("SELECT value FROM notes WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_note(self, key: str, value: str) -> None:
        """Write note ``key``: bookkeeping, not an action (no audit entry, no generation bump)."""
        with self._lock:
            self._con.execute(
                "INSERT INTO notes(key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [key, value, time.time()],
            )
            self._con.commit()

    def generation(self) -> int:
        """A counter bumped by every write, so readers know when to refresh a cached copy."""
        with self._lock:
            return int(
                self._con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
            )

    @contextlib.contextmanager
    def _audited_write(self) -> Iterator[Callable[..., None]]:
        """One SQLite transaction whose commit waits for its audit entry.

        The caller writes rows, then calls the yielded ``audit(...)`` (``AuditLog.append``'s
        arguments). If the entry cannot be written the rows are rolled back: an action never
        exists unaudited. If the commit itself fails after the entry was written, an
        ``action_aborted`` entry says so, so the log never claims an action that is not there.
        Call with ``self._lock`` held.
        """
        written: list[dict] = []

        def audit(*args: Any, **kw: Any) -> None:
            if self.audit is not None:
                written.append(self.audit.append(*args, **kw))

        try:
            yield audit
        except BaseException:
            self._con.rollback()
            raise
        try:
            self._con.commit()
        except sqlite3.Error as exc:
            self._con.rollback()
            for e in written:
                self.audit.append(  # type: ignore[union-attr]
                    "action_aborted",
                    e["subject_kind"],
                    e["subject_id"],
                    "distillguard",
                    f"not committed ({type(exc).__name__}): entry {e['seq']} did not take effect",
                    extra={"aborted_seq": e["seq"]},
                )
            raise

    def _bump(self) -> None:
        self._con.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")


def _row(r: sqlite3.Row) -> dict:
    d = dict(r)
    d["kind"] = "action"
    d["params"] = json.loads(d.get("params") or "{}")
    now = time.time()
    if d["reversed_at"] is not None:
        d["status"] = "reversed"
    elif d["expires_at"] is not None and d["expires_at"] <= now:
        d["status"] = "expired"
    else:
        d["status"] = "active"
    return d
