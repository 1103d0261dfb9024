"""Operator labels on the hand-written world (another generator): the risk model adapted
(`RiskModel.adapt`, as `distillguard learn` does) to k labelled accounts, labelled truthfully;
metrics on the accounts left unlabelled, beside the unadapted model on the same ones.

Two scenarios, as in bench-transfer (distillguard.bench.transfer.LABEL_SCENARIOS):
``queue``, the top k of the review queue; ``tip-off``, k/2 accounts of one campaign known from
outside (at most half of it) and the rest from the top of the queue, once per campaign.

    PYTHONPATH=src python scripts/operator_labels.py builtin --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import _handwritten
import numpy as np

BUDGETS = (0, 10, 30, 50, 80)  # the world has 281 accounts, 90 of them attackers
TIP_BUDGETS = (10, 30)


def summary(model: str, seed: int, reasoning_users: bool = False) -> str:
    import labelled_traffic as lt

    from distillguard.bench.transfer import QUEUE, TIP

    traffic, engine, _ = lt.analyzed(seed, risk_model=model, reasoning_users=reasoning_users)
    label = {r["account_id"]: r for r in traffic.labels}
    inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
    rows = [label[a] for a in inputs.column("account_id").to_pylist()]
    y = np.array([bool(r["is_attack"]) for r in rows])
    campaign = np.array([r["campaign_id"] or "" for r in rows], object)
    persona = np.array([r["persona"] for r in rows], object)
    runs = [(QUEUE, k, None) for k in BUDGETS]
    runs += [(TIP, k, c) for c in sorted(set(campaign) - {""}) for k in TIP_BUDGETS]
    head = f"{model} seed {seed}"
    return "\n".join(_line(head, model, inputs, y, campaign, persona, *run) for run in runs)


def _line(  # noqa: PLR0913
    head: str,
    model: str,
    inputs,  # noqa: ANN001
    y: np.ndarray,
    campaign: np.ndarray,
    persona: np.ndarray,
    scenario: str,
    k: int,
    tipped_campaign: str | None,
) -> str:
    from distillguard.bench.metrics import recall_at_fpr
    from distillguard.bench.transfer import pick_labelled
    from distillguard.scoring.model import align, resolve

    m = resolve(model)
    X = align(inputs, m.names_)
    before = m.predict_risk(X)
    # The campaign id stands for the kind, so the tip-off names ``tipped_campaign`` itself.
    picked, tipped = pick_labelled(
        before, y.astype(int), campaign, campaign, k, scenario, tipped_campaign
    )
    labels = np.full(len(y), -1)
    labels[picked] = y[picked]
    if (labels == 1).any():
        m.adapt(X, labels)
    # The verdict's risk (under the review cap) and the adapter's own ("uncapped").
    risk, adapted, _ = m.verdict_risk(X, 0.9)
    rest = np.setdiff1d(np.arange(len(y)), picked)
    attackers = rest[y[rest]]
    benign = rest[~y[rest]]
    up = sorted(
        {
            p
            for p in persona[benign]
            if _n(risk, benign, persona, p) > _n(before, benign, persona, p)
        }
    )
    out = (
        f"{head} {scenario}{f' {tipped_campaign}' if tipped_campaign else ''} k={k} "
        f"(+{(labels == 1).sum()}/-{(labels == 0).sum()}): "
        f"recall@0.1%FPR {recall_at_fpr(y[rest], before[rest], 0.001)['recall']:.1%} -> "
        f"{recall_at_fpr(y[rest], adapted[rest], 0.001)['recall']:.1%} uncapped / "
        f"{recall_at_fpr(y[rest], risk[rest], 0.001)['recall']:.1%} capped; unlabelled "
        f"attackers at attack {np.mean(before[attackers] >= 0.9):.1%} -> "
        f"{np.mean(adapted[attackers] >= 0.9):.1%} / {np.mean(risk[attackers] >= 0.9):.1%}; "
        f"benign at attack {np.sum(before[benign] >= 0.9)} -> "
        f"{np.sum(adapted[benign] >= 0.9)} / {np.sum(risk[benign] >= 0.9)}"
        + (f" (up: {', '.join(up)})" if up else "")
    )
    left = np.setdiff1d(tipped, picked)
    if len(left):
        out += (
            f"; rest of {tipped_campaign} found {np.mean(before[left] >= 0.5):.0%} -> "
            f"{np.mean(risk[left] >= 0.5):.0%} (n={len(left)})"
        )
    return out


def _n(risk: np.ndarray, rows: np.ndarray, persona: np.ndarray, p: str) -> int:
    return int(np.sum(risk[rows[persona[rows] == p]] >= 0.9))


if __name__ == "__main__":
    _handwritten.run(__doc__, summary, "the risk model to adapt: builtin or a risk-model.json")
