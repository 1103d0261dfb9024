"""Early detection of a risk model, rescoring the early detect runs' saved inputs.

    PYTHONPATH=src python scripts/early_rescore.py TRANSFER_OUT MODEL [DATA_ROOT]

TRANSFER_OUT is a ``bench-transfer --first-days N`` results folder (its test/WORLD/early runs
kept their model inputs); MODEL is ``builtin`` or a risk-model manifest; DATA_ROOT holds the
worlds' labels (default ``bench-results/worlds``).
"""
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np

from distillguard.bench.metrics import early_detection
from distillguard.bench.transfer import load_accounts, rescore
from distillguard.scoring.model import BUILTIN

if __name__ == "__main__":
    base, model = Path(sys.argv[1]), sys.argv[2]
    path = BUILTIN if model == "builtin" else Path(model)
    rows = []
    for w in sorted((base / "test").iterdir()):
        early = w / "early"
        out = Path(tempfile.mkdtemp(prefix="dg-early-")) / w.name
        rescore(early / "findings", path, out)
        t = load_accounts(out / "accounts.csv", Path(sys.argv[3] if len(sys.argv) > 3 else "bench-results/worlds") / w.name / "labels.csv")
        log = early / "world" / "requests.jsonl.gz"
        act = {r[0] for r in duckdb.sql(f"select distinct account_id from read_json_auto('{log}', ignore_errors=true)").fetchall()}
        r = early_detection(t, act)
        rows.append(r)
        print(w.name, {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
    for k in ("flagged_of_active", "attack_of_active", "flagged_of_all"):
        print("mean", k, round(float(np.mean([r[k] for r in rows])), 4))
