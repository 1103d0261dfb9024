"""Operator labels on the hand-written world (another generator): the risk model adapted
(`RiskModel.adapt`, as `distillguard learn` does) to the top k of its review queue, labelled
truthfully; metrics on the accounts left unlabelled, beside the unadapted model on the same ones.

    PYTHONPATH=src python scripts/operator_labels.py builtin --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import _handwritten
import numpy as np

BUDGETS = (0, 10, 30, 50, 80)  # the world has 281 accounts, 90 of them attackers


def summary(model: str, seed: int, reasoning_users: bool = False) -> str:
    import labelled_traffic as lt

    from distillguard.bench.metrics import recall_at_fpr
    from distillguard.scoring.model import align, resolve

    traffic, engine, _ = lt.analyzed(seed, risk_model=model, reasoning_users=reasoning_users)
    label = {r["account_id"]: r for r in traffic.labels}
    inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
    y = np.array([bool(label[a]["is_attack"]) for a in inputs.column("account_id").to_pylist()])
    lines = []
    for k in BUDGETS:
        m = resolve(model)
        X = align(inputs, m.names_)
        before = m.predict_risk(X)
        top = np.argsort(-before, kind="stable")[:k]
        labels = np.full(len(y), -1)
        labels[top] = y[top]
        if (labels == 1).any():
            m.adapt(X, labels)
        risk = m.predict_risk(X)
        rest = np.setdiff1d(np.arange(len(y)), top)
        attackers = rest[y[rest]]
        lines.append(
            f"{model} seed {seed} k={k} (+{(labels == 1).sum()}/-{(labels == 0).sum()}): "
            f"recall@0.1%FPR {recall_at_fpr(y[rest], before[rest], 0.001)['recall']:.1%} -> "
            f"{recall_at_fpr(y[rest], risk[rest], 0.001)['recall']:.1%}; unlabelled attackers "
            f"at attack {np.mean(before[attackers] >= 0.9):.1%} -> "
            f"{np.mean(risk[attackers] >= 0.9):.1%}; benign at attack "
            f"{np.sum(before[rest][~y[rest]] >= 0.9)} -> {np.sum(risk[rest][~y[rest]] >= 0.9)}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "the risk model to adapt: builtin or a risk-model.json")
