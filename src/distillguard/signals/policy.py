"""The ``signals`` policy section: enabled signals, fire thresholds, MinHash/LSH parameters.

Example YAML::

    signals:
      enabled: [cot_elicitation, rubric_grading, synthetic_data]
      thresholds: {cot_elicitation: 0.6}
      num_perm: 64
      bands: 16
      rows: 4
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import PolicyError
from ..policy import Check, Interval, param, section
from .base import BUILTIN_SIGNALS


def _names_ok(v: Any) -> bool:
    return (
        isinstance(v, (list, tuple))
        and all(isinstance(x, str) and (x in BUILTIN_SIGNALS or ":" in x) for x in v)
        and len(set(v)) == len(v)
    )


def _thresholds_ok(v: Any) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str)
        and not isinstance(x, bool)
        and isinstance(x, (int, float))
        and 0 <= x <= 1
        for k, x in v.items()
    )


@section("signals")
@dataclass(frozen=True)
class SignalsPolicy:
    """Which request signals run and how templates are sketched."""

    enabled: list = param(
        list(BUILTIN_SIGNALS),
        Check(
            _names_ok,
            "a list of distinct signal names "
            f"({', '.join(BUILTIN_SIGNALS)}) or 'package.module:Class' paths",
        ),
        "signals that run; capability and script are always computed",
    )
    thresholds: dict = param(
        {},
        Check(_thresholds_ok, "a mapping of signal name to a float in [0, 1]"),
        "per-signal fire threshold (default: each signal's own, 0.5)",
    )
    num_perm: int = param(64, Interval(8, 512, integer=True), "MinHash permutations per window")
    bands: int = param(16, Interval(1, 256, integer=True), "LSH bands per window")
    rows: int = param(4, Interval(1, 64, integer=True), "MinHash rows per LSH band")
    shingle_size: int = param(3, Interval(1, 8, integer=True), "tokens per shingle")
    window_tokens: int = param(
        24,
        Interval(4, 512, integer=True),
        "skeleton = first and last window_tokens tokens (where wrappers live)",
    )
    edge_tokens: int = param(
        8,
        Interval(0, 64, integer=True),
        "exact edge keys over the first/last edge_tokens tokens (0 = off)",
    )
    min_bucket: int = param(
        3,
        Interval(2, None, integer=True),
        "LSH buckets with fewer members link nothing (chance collisions come in pairs)",
    )
    max_bucket: int = param(
        1_000_000,
        Interval(2, None, integer=True),
        "LSH buckets with more members are ignored as too generic (no chaining); a chunk holds "
        "at most 250k new skeletons, so the default only drops keys shared by very many "
        "distinct templates; a value below the biggest real template would split it",
    )

    def validate(self) -> None:
        if self.min_bucket > self.max_bucket:
            raise PolicyError(
                f"Policy.signals: min_bucket ({self.min_bucket}) must be ≤ max_bucket "
                f"({self.max_bucket})"
            )
        if self.bands * self.rows > self.num_perm:
            raise PolicyError(
                f"Policy.signals: bands × rows must be ≤ num_perm; got {self.bands} × "
                f"{self.rows} > {self.num_perm}"
            )
        unknown = sorted(set(self.thresholds) - set(self.enabled) - set(BUILTIN_SIGNALS))
        if unknown:
            raise PolicyError(
                f"Policy.signals.thresholds names signal(s) {unknown} that are not enabled"
            )


@lru_cache(maxsize=1)
def default_section() -> SignalsPolicy:
    """The defaults, validated once."""
    from ..policy import build_section

    return build_section("signals", {})
