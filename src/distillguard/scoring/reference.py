"""The deployment reference: how every model input feature is distributed in one deployment.

Batch ranks each account feature among the deployment's own accounts (``pct:``), among
the accounts of its volume cohort (``coh:``) and among the accounts that reach the API the same
way (``rcv:``, the route, client and volume cohorts of ``scoring.model``). A single account
scored online has no deployment around it, so batch publishes these distributions beside its findings
(``risk_reference.json``) and the online path reads a new account's percentiles against them.

Each distribution is a list of points ``v`` with the share of accounts strictly below
(``below``) and at or below (``upto``) each point. A value equal to a point gets the batch's
mid-rank percentile exactly, ``(below + upto) / 2``; a value between two points is
interpolated. With at most :data:`MAX_POINTS` points per distribution (every distinct value
when there are fewer), the interpolation error is below ~1/MAX_POINTS of a percentile.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError

FORMAT_VERSION = 1
MAX_POINTS = 129
FILE_NAME = "risk_reference.json"
ROUND = 9  # decimals, as scoring.model.percentile


def _distribution(x: np.ndarray) -> dict[str, Any]:
    """The points of the finite values of ``x`` (see the module docstring), rounded as
    ``scoring.model.percentile`` rounds them (float noise must not break ties)."""
    v = np.sort(np.round(np.asarray(x, float)[np.isfinite(x)], ROUND))
    if len(v) == 0:
        return {"n": 0, "values": [], "below": [], "upto": []}
    pts = np.unique(v)
    if len(pts) > MAX_POINTS:  # the values at evenly spaced ranks, min and max included
        pts = np.unique(v[np.round(np.linspace(0, len(v) - 1, MAX_POINTS)).astype(int)])
    below = np.searchsorted(v, pts, "left") / len(v)
    upto = np.searchsorted(v, pts, "right") / len(v)
    return {
        "n": int(len(v)),
        "values": pts.tolist(),
        "below": np.round(below, 7).tolist(),
        "upto": np.round(upto, 7).tolist(),
    }


Points = tuple[np.ndarray, np.ndarray, np.ndarray]  # values, below, upto


def _points(dist: dict[str, Any]) -> Points:
    return tuple(np.asarray(dist[k], float) for k in ("values", "below", "upto"))  # type: ignore[return-value]


def _read_one(dist: dict[str, Any], x: float) -> float:
    """:func:`_read` for one value, in plain Python (online: one account, ~1 µs not ~40 µs)."""
    pts, below, upto = dist["values"], dist["below"], dist["upto"]
    if not pts or not math.isfinite(x):
        return math.nan
    x = float(np.round(x, ROUND))  # as the vector path rounds
    i = bisect.bisect_left(pts, x)
    if i < len(pts) and pts[i] == x:
        return (below[i] + upto[i]) / 2.0
    if i == 0:
        return below[0]
    if i == len(pts):
        return upto[-1]
    lo = i - 1
    return upto[lo] + (x - pts[lo]) / (pts[i] - pts[lo]) * (below[i] - upto[lo])


def _read(points: Points, x: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each ``x`` against one distribution; NaN stays NaN."""
    x = np.asarray(x, float)
    out = np.full(len(x), np.nan)
    pts, below, upto = points
    if len(pts) == 0:
        return out
    ok = np.isfinite(x)
    xv = np.round(x[ok], ROUND)
    i = np.searchsorted(pts, xv, "left")
    hi = np.minimum(i, len(pts) - 1)
    lo = np.maximum(i - 1, 0)
    exact = (i < len(pts)) & (pts[hi] == xv)
    span = np.where(pts[hi] > pts[lo], pts[hi] - pts[lo], 1.0)
    between = upto[lo] + (xv - pts[lo]) / span * (below[hi] - upto[lo])
    res = np.where(i == 0, below[0], np.where(i == len(pts), upto[-1], between))
    out[ok] = np.where(exact, (below[hi] + upto[hi]) / 2.0, res)
    return out


class DeploymentReference:
    """Distributions of the model input features, overall and per volume cohort.

    Build one with :meth:`fit` (batch) or read one with :meth:`load`; ``percentile``,
    ``cohort`` and ``medians`` are what :func:`scoring.model.model_inputs` and the
    contributions of one account read.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        # A reference written before route cohorts has none: every account then reads as in
        # the whole deployment (run detect again to rank in cohorts).
        for f in data["features"].values():
            f.setdefault("routes", {})
        # The points as arrays once, not per lookup (online reads them on every request).
        self._points = {
            c: (_points(f["all"]), [_points(d) for d in f["cohorts"]])
            for c, f in data["features"].items()
        }
        self._medians: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def fit(
        cls,
        columns: dict[str, np.ndarray],
        cohort: np.ndarray,
        log_volume: np.ndarray,
        inputs: Mapping[str, np.ndarray],
        n_cohorts: int,
        routes: Mapping[str, np.ndarray] | None = None,
    ) -> DeploymentReference:
        """From the raw input features of every account (``columns``: feature → values),
        their volume cohorts, ``log1p(n_requests)``, their model inputs (name → values) and
        the route cohorts batch ranked in (key → member mask, ``scoring.model.route_groups``)."""
        routes = routes or {}
        edges = [
            float(np.min(log_volume[cohort == k])) if (cohort == k).any() else None
            for k in range(n_cohorts)
        ]
        feats = {
            c: {
                "all": _distribution(x),
                "cohorts": [_distribution(x[cohort == k]) for k in range(n_cohorts)],
                "routes": {key: _distribution(x[m]) for key, m in routes.items()},
            }
            for c, x in columns.items()
        }
        medians = {}
        for name, values in inputs.items():
            x = np.asarray(values, float)
            x = x[np.isfinite(x)]
            medians[name] = float(np.median(x)) if len(x) else None
        return cls(
            {
                "format_version": FORMAT_VERSION,
                "n_accounts": int(len(cohort)),
                "n_cohorts": int(n_cohorts),
                "cohort_edges": edges,
                "features": feats,
                "input_medians": medians,
            }
        )

    @classmethod
    def empty(cls, n_cohorts: int) -> DeploymentReference:
        """No deployment to compare with: every percentile is NaN (the model reads it as
        missing), every evidence median 0 (no evidence)."""
        return cls(
            {
                "format_version": FORMAT_VERSION,
                "n_accounts": 0,
                "n_cohorts": n_cohorts,
                "cohort_edges": [],
                "features": {},
                "input_medians": {},
            }
        )

    # ---- reading ------------------------------------------------------------------------------
    @property
    def n_accounts(self) -> int:
        return int(self.data["n_accounts"])

    @property
    def pivot(self) -> dict[str, Any] | None:
        """The newly released model batch found (model, release_ms, window_ms), or None."""
        return self.data.get("pivot")

    def cohort(self, log_volume: np.ndarray) -> np.ndarray:
        """The batch's volume cohort of each ``log1p(n_requests)``: the highest cohort whose
        smallest member it reaches (exactly the batch cohort for a value batch saw)."""
        edges = self.data["cohort_edges"]
        out = np.zeros(len(log_volume), dtype=int)
        for k, e in enumerate(edges):
            if e is not None and k > 0:
                out[np.asarray(log_volume, float) >= e] = k
        return out

    def percentile(self, column: str, x: np.ndarray, cohort: np.ndarray | None = None) -> np.ndarray:
        """Percentile of each ``x`` in the deployment, or within its ``cohort`` when given."""
        feat = self._points.get(column)
        x = np.asarray(x, float)
        if feat is None:
            return np.full(len(x), np.nan)
        if len(x) == 1:  # one account (online)
            raw = self.data["features"][column]
            k = None if cohort is None else int(cohort[0])
            dist = raw["all"] if k is None else raw["cohorts"][k]
            return np.array([_read_one(dist, float(x[0]))])
        if cohort is None:
            return _read(feat[0], x)
        out = np.full(len(x), np.nan)
        for k, dist in enumerate(feat[1]):
            m = cohort == k
            if m.any():
                out[m] = _read(dist, x[m])
        return out

    def route_percentile(self, column: str, x: np.ndarray, levels: list[np.ndarray]) -> np.ndarray:
        """Percentile of each ``x`` in its route cohort: the finest of its keys (``levels``,
        finest first, ``scoring.model.cohort_levels``) batch kept, else the whole deployment,
        so an account batch saw is placed in the cohort batch ranked it in."""
        feat = self.data["features"].get(column)
        x = np.asarray(x, float)
        if feat is None:
            return np.full(len(x), np.nan)
        kept = feat["routes"]
        if len(x) == 1:  # one account (online)
            key = next((str(k[0]) for k in levels if str(k[0]) in kept), None)
            dist = feat["all"] if key is None else kept[key]
            return np.array([_read_one(dist, float(x[0]))])
        chosen = np.full(len(x), "", dtype=object)
        for keys in reversed(levels):  # finest last, so it wins
            has = np.isin(keys, list(kept))
            chosen[has] = keys[has]
        out = self.percentile(column, x)
        for key in set(chosen) - {""}:
            m = chosen == key
            out[m] = _read(_points(kept[key]), x[m])
        return out

    def medians(self, names: list[str]) -> np.ndarray:
        """The deployment median of each model input (contributions set inputs to it)."""
        key = tuple(names)
        if key not in self._medians:
            med = self.data["input_medians"]
            default = {True: 0.0, False: np.nan}
            self._medians[key] = np.array(
                [med[n] if med.get(n) is not None else default[n.startswith("ev:")] for n in names],
                float,
            )
        return self._medians[key]

    # ---- files --------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "<reference>") -> DeploymentReference:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"{source}: risk reference is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            got = data.get("format_version") if isinstance(data, dict) else None
            raise InvalidInputError(
                f"{source}: risk reference format {got}; this version reads {FORMAT_VERSION} "
                "(run detect again to rewrite it)"
            )
        missing = {"n_accounts", "n_cohorts", "cohort_edges", "features", "input_medians"} - set(
            data
        )
        if missing:
            raise InvalidInputError(f"{source}: risk reference lacks {sorted(missing)}")
        try:
            return cls(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"{source}: malformed risk reference: {exc!r}") from None

    @classmethod
    def load(cls, path: Path | str) -> DeploymentReference:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidInputError(f"cannot read risk reference {path}: {exc}") from None
        return cls.from_json(text, str(path))
