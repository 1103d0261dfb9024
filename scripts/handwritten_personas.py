"""The hand-written world (tests/scoring/labelled_traffic.py) per population: each campaign's
share found (attack or review) and at `attack`, each hard-benign persona's accounts at `attack`
and at `review`, recall at 0.1% and 1% FPR, per risk model and seed.

    PYTHONPATH=src python scripts/handwritten_personas.py builtin --seeds 0 1 2 3 4 5 6 7 --reasoning-users
"""

from __future__ import annotations

import _handwritten
import numpy as np


def summary(model: str, seed: int, reasoning_users: bool = False) -> str:
    import labelled_traffic as lt

    from distillguard.bench.metrics import recall_at_fpr

    traffic, engine, _ = lt.analyzed(seed, risk_model=model, reasoning_users=reasoning_users)
    y, risk, camps, personas = _handwritten.verdicts(traffic, engine)
    hard = _handwritten.hard_benign(personas)
    found = " ".join(
        f"{c} {np.mean([v != 'benign' for v in vs]):.0%}/{np.mean([v == 'attack' for v in vs]):.0%}"
        for c, vs in sorted(camps.items())
    )
    personas = " ".join(
        f"{p} {vs.count('attack')}/{vs.count('review')}/{len(vs)}" for p, vs in sorted(hard.items())
    )
    return (
        f"{model} seed {seed}: rec@0.1% {recall_at_fpr(y, risk, 0.001)['recall']:.1%} "
        f"rec@1% {recall_at_fpr(y, risk, 0.01)['recall']:.1%}; found/attack {found}; "
        f"hard-benign attack/review/accounts {personas}"
    )


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "builtin, none, or a risk-model.json")
