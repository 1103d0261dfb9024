"""The red-team bench's daily batch: what an operator runs beside ``distillguard serve``.

Every ``every_hours`` simulated hours the requests the gateway saw since the last run (benign
background and attackers alike, as contract records, docs/CONTRACT.md §1) are written as one
JSONL log, the accounts signed up so far as the contract's account table (§2), and both go
through the embedded ``detect`` into the service's own store (``detect --store DIR``, the
nightly job of docs/ONLINE.md), which keeps every earlier day: each run judges the whole
history so far, as an operator's daily job does (a fresh ``detect`` over all the days' logs at
once gives the same verdicts). The service then reloads its verdict cache from that store,
as ``POST /v1/admin/results/reload`` does (``OnlineScorer.reload_results``).
"""

from __future__ import annotations

import csv
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOUR_MS = 3_600_000
# docs/CONTRACT.md §2, all of it: batch counts a card's owners by organisation (an owner is the
# account's ``org_id``, else the account), so a table without it turns every team sharing its
# company card into a payment ring (tiny-105: a labelling vendor's 20 accounts on one card).
ACCOUNT_FIELDS = ("account_id", "created_at", "signup_route", "verification", "email_domain",
                  "payment_fingerprint", "country", "org_id")


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(float(ms) / 1000, UTC).isoformat(timespec="milliseconds")


def _contract_record(row: dict[str, Any]) -> dict[str, Any]:
    """The record as the gateway received it, with its time as ISO 8601 (one type per log)."""
    rec = dict(row.get("_record") or row)
    if isinstance(rec.get("ts"), int | float):
        rec["ts"] = _iso(rec["ts"])
    return rec


class DailyBatch:
    """Collects what the gateway saw; every ``every_hours`` runs ``detect`` and reloads."""

    def __init__(
        self, scorer: Any, every_hours: float, t_start: int, folder: Path,
        benign: frozenset[str] = frozenset(), orgs: dict[str, str] | None = None,
    ) -> None:
        self.scorer, self.folder, self.benign = scorer, Path(folder), benign
        self.every_ms = int(every_hours * HOUR_MS)
        self.t_start = t_start
        self.next_ms = t_start + self.every_ms
        self.pending: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        # account → organisation: the operator's account table (``orgs``), else the one the
        # account's requests carry (an attacker's self-serve account is its own organisation)
        self.orgs: dict[str, str] = dict(orgs or {})
        self.runs: list[dict[str, Any]] = []
        self.folder.mkdir(parents=True, exist_ok=True)

    def note(self, row: dict[str, Any]) -> None:
        rec = _contract_record(row)
        self.pending.append(rec)
        if rec.get("org_id"):
            self.orgs.setdefault(str(rec["account_id"]), str(rec["org_id"]))

    def note_account(self, body: dict[str, Any]) -> None:
        self.accounts[str(body["account_id"])] = body

    def due(self, ts_ms: int) -> bool:
        return ts_ms >= self.next_ms

    def run(self, ts_ms: int) -> dict[str, Any]:
        """One nightly ``detect`` over the day's log into the service's store, then a reload."""
        from ..engines.embedded import detect

        day = len(self.runs) + 1
        while self.next_ms <= ts_ms:
            self.next_ms += self.every_ms
        log = self.folder / f"requests-day{day:03d}.jsonl"
        with open(log, "w", encoding="utf-8") as fh:
            for rec in self.pending:
                fh.write(json.dumps(rec) + "\n")
        n_new, self.pending = len(self.pending), []
        accts = self.folder / f"accounts-day{day:03d}.csv"
        self._write_accounts(accts)
        t = time.perf_counter()
        detect([log], self.folder / f"findings-day{day:03d}", accounts=accts,
               store=self.scorer.data_dir, progress=False, report=False, workers=1)
        summary = self.scorer.reload_results()
        # batch's own attack verdicts, before the service holds any back (unconfirmed, floor)
        flagged = self.scorer.cache.batch_attacks
        info = {"day": day, "at_h": round((ts_ms - self.t_start) / HOUR_MS, 1),
                "requests": n_new, "accounts": len(self.accounts),
                "attack_accounts": summary["attack_accounts"],
                # the bench knows which accounts are benign: batch's false positives
                "benign_attack_verdicts": sum(1 for a in flagged if a in self.benign),
                "seconds": round(time.perf_counter() - t, 1)}
        self.runs.append(info)
        return info

    def _write_accounts(self, path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ACCOUNT_FIELDS, extrasaction="ignore")
            w.writeheader()
            for body in self.accounts.values():
                # a sign-up body has no organisation; the operator's account table does
                org = body.get("org_id") or self.orgs.get(str(body["account_id"]))
                w.writerow({**body, "created_at": _iso(body["created_at"]), "org_id": org})
