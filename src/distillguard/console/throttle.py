"""Login throttling per client address and per username: backoff, then lockout.

Argon2 makes each guess cost the server ~50 ms, not the attacker: without a throttle one
client tried 40 passwords in 14 s. Failures are counted under two keys, ``client:<address>``
and ``user:<name>`` (so neither rotating usernames from one address nor rotating addresses
against one user gets around it), in ``console.sqlite`` so a restart does not reset them:

- the first ``free`` failures cost nothing extra;
- after that each failure makes the key wait ``2 ** (n - free)`` seconds (capped at
  ``max_backoff_s``) before its next attempt is even checked;
- at ``lock_after`` failures the key is locked for ``lockout_s`` (the caller audits it);
- a key's count is forgotten ``window_s`` after its last failure, and a success clears the
  user's and the client's counts.

>>> t = LoginThrottle(":memory:", free=1, max_backoff_s=4, lock_after=3, lockout_s=60)
>>> t.retry_after(["client:a"], now=0.0)
0.0
>>> [t.failure(["client:a"], now=0.0) for _ in range(3)]
[[], [], ['client:a']]
>>> t.retry_after(["client:a"], now=10.0)
50.0
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_at REAL NOT NULL,
    blocked_until REAL NOT NULL);
"""


class LoginThrottle:
    """Failure counts with exponential backoff and lockout, stored in SQLite at ``path``."""

    def __init__(
        self,
        path: Path | str,
        free: int = 3,
        max_backoff_s: float = 60.0,
        lock_after: int = 10,
        lockout_s: float = 900.0,
        window_s: float = 3600.0,
    ) -> None:
        self.free = free
        self.max_backoff_s = max_backoff_s
        self.lock_after = lock_after
        self.lockout_s = lockout_s
        self.window_s = window_s
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
        with self._lock:
            self._con.executescript(_SCHEMA)
            self._con.commit()

    def retry_after(self, keys: list[str], now: float) -> float:
        """Seconds until any of ``keys`` may try again (0: go ahead)."""
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._con.execute(
                f"SELECT blocked_until FROM login_failures WHERE key IN ({marks})", keys
            ).fetchall()
        return max([0.0] + [until - now for (until,) in rows])

    def failure(self, keys: list[str], now: float) -> list[str]:
        """Count a failed login for every key; return the keys that just got locked out."""
        locked = []
        with self._lock:
            for key in keys:
                row = self._con.execute(
                    "SELECT failures, last_at FROM login_failures WHERE key = ?", (key,)
                ).fetchone()
                n = 1 if row is None or now - row[1] > self.window_s else row[0] + 1
                wait = self._wait(n)
                if n >= self.lock_after:
                    locked.append(key)
                self._con.execute(
                    "INSERT INTO login_failures(key, failures, last_at, blocked_until)"
                    " VALUES (?,?,?,?) ON CONFLICT(key) DO UPDATE SET failures = excluded.failures,"
                    " last_at = excluded.last_at, blocked_until = excluded.blocked_until",
                    (key, n, now, now + wait),
                )
            self._con.commit()
        return locked

    def success(self, keys: list[str]) -> None:
        """Forget the failures of ``keys`` (the user logged in from that client)."""
        with self._lock:
            self._con.executemany("DELETE FROM login_failures WHERE key = ?", [(k,) for k in keys])
            self._con.commit()

    def _wait(self, failures: int) -> float:
        if failures >= self.lock_after:
            return self.lockout_s
        if failures <= self.free:
            return 0.0
        return min(self.max_backoff_s, 2.0 ** (failures - self.free))

    def close(self) -> None:
        with self._lock:
            self._con.close()
