"""Request level in the mixed accounts of the scoring tests' hand-written world
(tests/scoring/labelled_traffic.py, a generator never used in training): recall and precision
of the requests marked harvest (risk >= the policy's request threshold), per request model.

    PYTHONPATH=src python scripts/handwritten_requests.py builtin none --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scoring"))

MIXED = {f"atkC{i:02d}" for i in range(10)}  # hydra accounts carrying a customer's traffic


def summary(request_model: str, seed: int, risk_model: str) -> str:
    import labelled_traffic as lt

    from distillguard.policy import Policy

    traffic, engine, _ = lt.analyzed(seed, risk_model, request_model)
    thr = Policy.load(None).scoring.request_threshold
    risk = {
        r["request_id"]: r["risk"]
        for r in engine.fetch_arrow("SELECT request_id, risk FROM out_requests").to_pylist()
    }
    acc = {
        r["request_id"]: r["account_id"]
        for r in engine.fetch_arrow("SELECT request_id, account_id FROM requests").to_pylist()
    }
    ids = [r for r in traffic.request_labels if acc[r] in MIXED]
    pred = np.array([risk.get(r, 0.0) >= thr for r in ids])
    y = np.array([traffic.request_labels[r] == 1 for r in ids])
    tp = int((pred & y).sum())
    return (
        f"request_model {request_model} (risk_model {risk_model}) seed {seed}: "
        f"recall {tp / y.sum():.1%}, precision {tp / max(pred.sum(), 1):.1%} "
        f"({len(ids)} requests, {int(y.sum())} harvest, {int(pred.sum())} marked)"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="builtin, none, or a request-model.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--risk-model", default="builtin")
    args = ap.parse_args()
    for m in args.models:
        for s in args.seeds:
            print(summary(m, s, args.risk_model))
