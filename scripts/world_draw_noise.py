"""How much the draw of train worlds moves the risk model on the hand-written world: the
default recipe's leave-one-world-out boosters (each fitted without one train world and its
slice), their raw log-odds on each hand-written honest persona, against the full fit's.

A persona whose log-odds range across those boosters is as wide as the review-to-attack gap
(2.2) is at `attack` or not by the luck of the draw (docs/experiments/retrain-recipe.md).
Reads the inputs `distillguard train --data-root D` kept (D/findings/WORLD/...).

    PYTHONPATH=src python scripts/world_draw_noise.py --data-root D --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _handwritten  # noqa: F401  (puts the hand-written world on the path)
import numpy as np


def train_table(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(X, y, world, names)`` of train's default worlds and their early slices."""
    from distillguard.bench.transfer import EARLY_DAYS, handset_findings, parse_worlds, world_name
    from distillguard.scoring import model as m
    from distillguard.scoring.recipe import TRAIN_RECIPE

    worlds = [
        root / world_name(size, s)
        for size in TRAIN_RECIPE["sizes"].split(",")
        for s in parse_worlds(TRAIN_RECIPE["worlds"], "worlds")
    ]
    slices = [root / f"{w.name}-first{EARLY_DAYS:g}d" for w in worlds]
    every = worlds + slices
    groups = [w.name for w in worlds] * 2
    parts = m._training_parts(every, [handset_findings(root, w) for w in every], groups, False)
    X, y, g, _, _ = m._stack(parts)
    return X, y, g, m.input_names()


def handwritten(seeds: list[int], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and persona of every honest hand-written account (hand-set analyze)."""
    import labelled_traffic as lt

    from distillguard.scoring.model import align

    Xs, personas = [], []
    for seed in seeds:
        traffic, engine, _ = lt.analyzed(seed, risk_model="none", reasoning_users=True)
        inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
        label = {r["account_id"]: r for r in traffic.labels}
        rows = [label[a] for a in inputs.column("account_id").to_pylist()]
        honest = np.array([not r["is_attack"] for r in rows])
        Xs.append(align(inputs, names)[honest])
        personas += [r["persona"] for r, h in zip(rows, honest, strict=True) if h]
    return np.vstack(Xs), np.array(personas)


def main() -> None:
    from threadpoolctl import threadpool_limits

    from distillguard.scoring.model import RiskModel

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    args = ap.parse_args()
    X, y, g, names = train_table(args.data_root)
    H, persona = handwritten(args.seeds, names)
    proto = RiskModel()
    with threadpool_limits(limits=1, user_api="openmp"):
        full = proto._booster(names).fit(X, y).decision_function(H)
        loo = np.array(
            [proto._booster(names).fit(X[g != w], y[g != w]).decision_function(H)
             for w in np.unique(g)]
        )
    spread = loo.max(axis=0) - loo.min(axis=0)
    for p in sorted(set(persona) - {"benign"}):
        sel = persona == p
        print(
            f"{p}: {sel.sum()} accounts; raw log-odds full fit {full[sel].mean():+.2f}, "
            f"leave-one-world-out mean {loo[:, sel].mean():+.2f}, "
            f"range over the draws (median account) {np.median(spread[sel]):.2f}"
        )


if __name__ == "__main__":
    main()
