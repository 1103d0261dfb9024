"""Score the scoring tests' hand-written world (tests/scoring/labelled_traffic.py, a generator
written by hand, never used in training) with one or more risk models, side by side.

    PYTHONPATH=src python scripts/handwritten_world.py builtin OTHER/risk-model.json --seeds 0 1
"""

from __future__ import annotations

import _handwritten
import numpy as np
from sklearn.metrics import roc_auc_score


def summary(model: str, seed: int, reasoning_users: bool = False) -> str:
    import labelled_traffic as lt

    from distillguard.bench.metrics import recall_at_fpr

    traffic, engine, _ = lt.analyzed(seed, risk_model=model, reasoning_users=reasoning_users)
    label = {r["account_id"]: r for r in traffic.labels}
    out = engine.fetch_arrow("SELECT account_id, risk, verdict FROM out_accounts").to_pylist()
    y = np.array([bool(label[r["account_id"]]["is_attack"]) for r in out])
    risk = np.array([r["risk"] for r in out])
    camps: dict[str, list[bool]] = {}
    for r in out:
        if camp := label[r["account_id"]]["campaign_id"]:
            camps.setdefault(camp, []).append(r["verdict"] != "benign")
    hard = [r for r in out if label[r["account_id"]]["persona"] not in ("benign", "attack")]
    found = " ".join(f"{c} {np.mean(v):.0%}" for c, v in sorted(camps.items()))
    return (
        f"{model} seed {seed}: ROC-AUC {roc_auc_score(y, risk):.3f}, "
        f"recall@1%FPR {recall_at_fpr(y, risk, 0.01)['recall']:.1%}, "
        f"recall@0.1%FPR {recall_at_fpr(y, risk, 0.001)['recall']:.1%}; flagged: {found}; "
        f"hard-benign attack {sum(r['verdict'] == 'attack' for r in hard)}/{len(hard)}"
    )


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "builtin, none, or a risk-model.json")
