"""The benchmark: peer detectors, metrics against the simulator's labels, the harness.

- :func:`run_bench` (``distillguard bench``): run detectors on a simulated data set in child
  processes, time them, measure peak memory and score them (:mod:`.metrics`).
- :func:`run_suite` (``distillguard bench-suite``, ``make bench``): simulate, bench every
  preset, add the other stages' optional sections and the scaling run, write
  ``BENCHMARKS.generated.md``.
- :mod:`.peers`: rate limit, IsolationForest, PRADA, MMD, FRAUDAR, each writing the
  contract's ``accounts.csv``; :mod:`.embed`: offline MiniLM (ONNX) and hashing embedders.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_bench", "run_suite"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. for the CLI) must not pull in sklearn/onnxruntime.
    if name == "run_bench":
        from .harness import run_bench

        return run_bench
    if name == "run_suite":
        from .suite import run_suite

        return run_suite
    raise AttributeError(name)
