"""``POST /v1/signup``: the sign-up scorer behind the online service.

Built on first use from the data folder: every account of the store's account table is learned
in ``created_at`` order and the batch verdicts (review or attack) mark the flagged accounts.
Each scored sign-up is then learned, so the next one sees it (a wave of sign-ups is visible
while it happens). The IP kind comes from the same offline IP intelligence as batch detection.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .risk import SignupScorer, route_action

FIELDS = ("account_id", "signup_route", "verification", "email_domain", "payment_fingerprint",
          "country", "ip", "created_at")


def _store_accounts(data_dir: Path) -> list[dict]:
    path = data_dir / "store.duckdb"
    if not path.exists():
        return []
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        names = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        if "accounts" not in names:
            return []
        return con.sql("SELECT * FROM accounts").to_arrow_table().to_pylist()
    finally:
        con.close()


class SignupService:
    """One scorer, its lock, and the IP intelligence; ``assess`` answers one sign-up."""

    def __init__(self, data_dir: Path, flagged: set[str],
                 thresholds: dict[str, tuple[float, float]] | None = None) -> None:
        self.thresholds = thresholds
        rows = _store_accounts(data_dir)
        for r in rows:
            created = r.get("created_at")
            r["created_ms"] = int(created) if isinstance(created, (int, float)) else 0
        self.scorer = SignupScorer().fit(rows, flagged)
        self._lock = threading.Lock()
        self._intel: Any = None

    def _ip_kind(self, ip: str) -> str | None:
        if not ip:
            return None
        if self._intel is None:
            from ..accounts.ipintel import IpIntel

            self._intel = IpIntel().fit()
        return self._intel.transform([ip]).column("ip_kind")[0].as_py()

    def assess(self, body: Any, now_ms: float | None = None) -> dict[str, Any]:
        """Score one sign-up (then learn it); the route's action from its thresholds.

        ``now_ms`` is when it happened (default the wall clock, as a live gateway has it; a
        replay passes the log's time); the client's own ``created_at`` is never trusted."""
        if not isinstance(body, dict) or not isinstance(body.get("account_id"), str) \
                or not body["account_id"].strip():
            raise InvalidInputError("send a JSON object with account_id (a non-empty string) "
                                    f"and any of {', '.join(FIELDS[1:])}")
        acc = {k: body.get(k) for k in FIELDS if not isinstance(body.get(k), (dict, list))}
        acc["created_ms"] = time.time() * 1000 if now_ms is None else float(now_ms)
        acc["ip_kind"] = self._ip_kind(str(acc.get("ip") or ""))
        with self._lock:
            res = self.scorer.score_one(acc)
            self.scorer.learn_one(acc)
        route = str(acc.get("signup_route") or "standard")
        return {**res.to_dict(), "route": route, "action": route_action(route, res.risk, self.thresholds),
                "ip_kind": acc["ip_kind"], "created_ms": acc["created_ms"]}
