"""What the hand-written-world scripts share: their command line (models × seeds)."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

# The hand-written world lives with the scoring tests (tests/scoring/labelled_traffic.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scoring"))


def run(doc: str, summary: Callable[..., str], model_help: str, risk_model: bool = False) -> None:
    """Print ``summary(model, seed[, risk_model], reasoning_users=...)`` for every model and
    seed given."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("models", nargs="+", help=model_help)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    if risk_model:
        ap.add_argument("--risk-model", default="builtin")
    ap.add_argument(
        "--reasoning-users",
        action="store_true",
        help="add the honest users who ask for step-by-step reasoning (off: today's world)",
    )
    args = ap.parse_args()
    extra = (args.risk_model,) if risk_model else ()
    for m in args.models:
        for s in args.seeds:
            print(summary(m, s, *extra, reasoning_users=args.reasoning_users), flush=True)


def verdicts(traffic, engine) -> tuple[np.ndarray, np.ndarray, dict, dict]:  # noqa: ANN001
    """From an analyzed hand-written world: labels (attack or not), risks, and the verdicts
    of each campaign (campaign id → verdicts) and each other persona (persona → verdicts)."""
    label = {r["account_id"]: r for r in traffic.labels}
    out = engine.fetch_arrow("SELECT account_id, risk, verdict FROM out_accounts").to_pylist()
    y = np.array([bool(label[r["account_id"]]["is_attack"]) for r in out])
    risk = np.array([r["risk"] for r in out])
    camps: dict[str, list[str]] = defaultdict(list)
    personas: dict[str, list[str]] = defaultdict(list)
    for r in out:
        lab = label[r["account_id"]]
        if lab["campaign_id"]:
            camps[lab["campaign_id"]].append(r["verdict"])
        else:
            personas[lab["persona"]].append(r["verdict"])
    return y, risk, camps, personas


def hard_benign(personas: dict[str, list[str]]) -> dict[str, list[str]]:
    """The hard-benign personas only (not the ordinary benign crowd)."""
    return {p: v for p, v in personas.items() if p not in ("benign", "attack")}
