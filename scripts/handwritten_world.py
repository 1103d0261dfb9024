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
    y, risk, camps, personas = _handwritten.verdicts(traffic, engine)
    found = " ".join(
        f"{c} {np.mean([v != 'benign' for v in vs]):.0%}" for c, vs in sorted(camps.items())
    )
    hard = [v for vs in _handwritten.hard_benign(personas).values() for v in vs]
    return (
        f"{model} seed {seed}: ROC-AUC {roc_auc_score(y, risk):.3f}, "
        f"recall@1%FPR {recall_at_fpr(y, risk, 0.01)['recall']:.1%}, "
        f"recall@0.1%FPR {recall_at_fpr(y, risk, 0.001)['recall']:.1%}; flagged: {found}; "
        f"hard-benign attack {hard.count('attack')}/{len(hard)}"
    )


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "builtin, none, or a risk-model.json")
