"""Request level in the mixed accounts of the scoring tests' hand-written world
(tests/scoring/labelled_traffic.py, a generator never used in training): recall and precision
of the requests marked harvest (risk >= the policy's request threshold), per request model.

    PYTHONPATH=src python scripts/handwritten_requests.py builtin none --seeds 0 1 2 3
"""

from __future__ import annotations

import _handwritten


def summary(request_model: str, seed: int, risk_model: str, reasoning_users: bool = False) -> str:
    import labelled_traffic as lt

    from distillguard.policy import Policy

    traffic, engine, _ = lt.analyzed(seed, risk_model, request_model, reasoning_users)
    pred, y = lt.mixed_request_marks(traffic, engine, Policy.load(None).scoring.request_threshold)
    tp = int((pred & y).sum())
    return (
        f"request_model {request_model} (risk_model {risk_model}) seed {seed}: "
        f"recall {tp / y.sum():.1%}, precision {tp / max(pred.sum(), 1):.1%} "
        f"({len(y)} requests, {int(y.sum())} harvest, {int(pred.sum())} marked)"
    )


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "builtin, none, or a request-model.json", risk_model=True)
