"""What the hand-written-world scripts share: their command line (models × seeds)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

# The hand-written world lives with the scoring tests (tests/scoring/labelled_traffic.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scoring"))


def run(doc: str, summary: Callable[..., str], model_help: str, risk_model: bool = False) -> None:
    """Print ``summary(model, seed[, risk_model], reasoning_users=...)`` for every model and
    seed given."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("models", nargs="+", help=model_help)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    if risk_model:
        ap.add_argument("--risk-model", default="builtin")
    ap.add_argument(
        "--reasoning-users",
        action="store_true",
        help="add the honest users who ask for step-by-step reasoning (off: today's world)",
    )
    args = ap.parse_args()
    extra = (args.risk_model,) if risk_model else ()
    for m in args.models:
        for s in args.seeds:
            print(summary(m, s, *extra, reasoning_users=args.reasoning_users), flush=True)
