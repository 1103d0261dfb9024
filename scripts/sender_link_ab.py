"""The hand-written world (tests/scoring/labelled_traffic.py) scored with the sender-link rule
off (`scoring.sender_link_kinds: []`) and on, the same traffic per seed: recall, each campaign's
found/attack/accounts, each persona's accounts at `attack`.

    PYTHONPATH=src python scripts/sender_link_ab.py --seeds 0 1 2 3 4 5 6 7
"""

from __future__ import annotations

import argparse

import _handwritten  # also puts the hand-written world (tests/scoring) on the path


def summary(traffic, extra: dict) -> str:  # noqa: ANN001
    import labelled_traffic as lt

    from distillguard.bench.metrics import recall_at_fpr
    from distillguard.engines.base import DuckDBEngine
    from distillguard.policy import Policy
    from distillguard.scoring import analyze

    engine = DuckDBEngine()
    lt.load(engine, traffic)
    analyze(engine, Policy.from_dict({"scoring": {"risk_model": "builtin", **extra}}))
    y, risk, camps, personas = _handwritten.verdicts(traffic, engine)
    cs = " ".join(
        f"{c} {sum(v != 'benign' for v in vs)}/{sum(v == 'attack' for v in vs)}/{len(vs)}"
        for c, vs in sorted(camps.items())
    )
    ps = " ".join(
        f"{p} {sum(v == 'attack' for v in vs)}/{len(vs)}" for p, vs in sorted(personas.items())
    )
    return (
        f"recall@0.1%FPR {recall_at_fpr(y, risk, 0.001)['recall']:.1%} "
        f"@1% {recall_at_fpr(y, risk, 0.01)['recall']:.1%}; found/attack/accounts {cs}; "
        f"at attack {ps}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    import labelled_traffic as lt

    for seed in ap.parse_args().seeds:
        traffic = lt.build(seed)
        for name, extra in (("off", {"sender_link_kinds": []}), ("on", {})):
            print(f"seed {seed} {name}: {summary(traffic, extra)}", flush=True)
