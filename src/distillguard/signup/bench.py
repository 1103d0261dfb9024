"""Measure sign-up risk on random worlds: campaign accounts stopped or stepped up at sign-up,
against benign sign-ups asked to verify. Replayed in ``created_at`` order with no known
clusters (cold start), so ``flagged_*`` evidence never fires here: a lower bound."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

from .risk import SignupScorer, route_action


def read_accounts(world: Path) -> list[dict]:
    """accounts.csv (contract §2) with ``created_ms``."""
    with (world / "accounts.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        ts = r.get("created_at") or ""
        r["created_ms"] = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000) if ts else 0
    return rows


def measure_world(world: Path, scorer: SignupScorer | None = None) -> dict:
    """Per world: actions for campaign and benign accounts, and the shares that count."""
    accounts = read_accounts(world)
    with (world / "labels.csv").open(newline="") as fh:
        attack = {r["account_id"]: r["is_attack"] == "1" for r in csv.DictReader(fh)}
    route = {a["account_id"]: a.get("signup_route") or "standard" for a in accounts}
    scores = (scorer or SignupScorer()).score_history(accounts)
    acts = {"attack": Counter(), "benign": Counter()}
    for s in scores:
        group = "attack" if attack.get(s.account_id) else "benign"
        acts[group][route_action(route[s.account_id], s.risk)] += 1
    n_att, n_ben = sum(acts["attack"].values()), sum(acts["benign"].values())
    return {
        "world": world.name, "campaign_accounts": n_att, "benign_accounts": n_ben,
        "campaign_stopped_or_stepped_up": (n_att - acts["attack"]["allow"]) / max(n_att, 1),
        "benign_asked_to_verify": (n_ben - acts["benign"]["allow"]) / max(n_ben, 1),
        "actions": {g: dict(c) for g, c in acts.items()},
    }
