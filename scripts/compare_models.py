"""Score risk models side by side on worlds already detected, without detecting them again.

Reads each world's labels and the ``model_inputs.parquet`` a detect run kept (``bench-transfer``
and ``train`` keep them under DATA_ROOT/findings/WORLD/distillguard-handset), so two models
trained on the same worlds are compared on the same inputs in seconds.

    PYTHONPATH=src python scripts/compare_models.py --data-root bench-results/worlds \
        --worlds small-w105 small-w106 -- builtin OTHER/risk-model.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def world_scores(model, root: Path, world: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(risk, labels)`` of every labelled account of ``world``; labels hold is_attack,
    kind (campaign kind or '') and persona."""
    import distillguard.scoring.model as m

    inputs = pq.read_table(
        root / "findings" / world / "distillguard-handset" / "model_inputs.parquet"
    )
    X = m.align(inputs, model.names_)
    transform = getattr(m, "withheld_reads_median", None)  # docs/experiments/withheld-median.patch
    for j, name in enumerate(model.names_ if transform else []):
        X[:, j] = transform(name, X[:, j])
    labels = pacsv.read_csv(root / world / "labels.csv").to_pandas().set_index("account_id")
    labels = labels.loc[inputs.column("account_id").to_pylist()]
    kinds = json.loads((root / world / "sim_summary.json").read_text())["campaigns"]
    kind = labels.campaign_id.map(
        lambda c: kinds.get(c, {}).get("type", "") if isinstance(c, str) else ""
    )
    return model.predict_risk(X), {
        "is_attack": labels.is_attack.to_numpy().astype(bool),
        "kind": kind.to_numpy(),
        "persona": labels.persona.to_numpy(),
    }


def report(model_setting: str, root: Path, worlds: list[str]) -> str:
    from distillguard.bench.metrics import recall_at_fpr
    from distillguard.scoring.model import resolve

    model = resolve(model_setting)
    lines, found, hard_attack = [f"== {model_setting}"], {}, {}
    for w in worlds:
        risk, lab = world_scores(model, root, w)
        y = lab["is_attack"]
        lines.append(
            f"{w}: recall@0.1%FPR {recall_at_fpr(y, risk, 0.001)['recall']:.1%}, "
            f"@1% {recall_at_fpr(y, risk, 0.01)['recall']:.1%}"
        )
        for k in set(lab["kind"]) - {""}:
            f = found.setdefault(k, [0, 0, 0])
            sel = lab["kind"] == k
            f[0] += int((risk[sel] >= 0.5).sum())
            f[1] += int((risk[sel] >= 0.9).sum())
            f[2] += int(sel.sum())
        for p in set(lab["persona"][~y]) - {"benign"}:
            sel = (lab["persona"] == p) & ~y
            h = hard_attack.setdefault(p, [0, 0])
            h[0] += int((risk[sel] >= 0.9).sum())
            h[1] += int(sel.sum())
    lines.append(
        "found / attack per kind: "
        + ", ".join(
            f"{k} {a / n:.1%} / {b / n:.1%} of {n}" for k, (a, b, n) in sorted(found.items())
        )
    )
    lines.append(
        "hard-benign accounts with attack (risk >= 0.9): "
        + ", ".join(f"{p} {a}/{n}" for p, (a, n) in sorted(hard_attack.items()))
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--worlds", nargs="+", required=True)
    ap.add_argument("models", nargs="+", help="builtin or risk-model.json manifests")
    args = ap.parse_args()
    for setting in args.models:
        print(report(setting, args.data_root, args.worlds))


if __name__ == "__main__":
    main()
