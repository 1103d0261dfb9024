"""What the account risk model and the request model share: a histogram gradient-boosting
classifier, monotone in every input whose direction is known, fitted on labelled random worlds,
with Platt calibration fitted on out-of-world predictions (each world predicted by a booster
that did not see it)."""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..accounts._base import Estimator
from ..errors import InvalidInputError


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _rows(weight: np.ndarray | None, rows: np.ndarray | None) -> dict[str, np.ndarray]:
    """``sample_weight`` keyword of ``rows`` (all if None), or none: unweighted fits call
    scikit-learn exactly as before."""
    if weight is None:
        return {}
    return {"sample_weight": weight if rows is None else weight[rows]}


Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X, y, groups, weight


def _with_extra(
    X: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray | None,
    keep: np.ndarray,
    extra: Rows | None,
    held: Any,
) -> tuple[Any, ...]:
    """``(X, y[, sample_weight])`` for one booster: the real rows ``keep`` and the extra
    rows of every world but ``held`` (None: all). Without extra rows, the call is the one
    scikit-learn always got."""
    if extra is None:
        return (X[keep], y[keep], *(() if sw is None else (sw[keep],)))
    eX, ey, eg, ew = extra
    use = np.asarray(eg) != held if held is not None else np.ones(len(ey), bool)
    real_w = np.ones(int(keep.sum())) if sw is None else sw[keep]  # real rows weigh 1
    return np.vstack([X[keep], eX[use]]), np.r_[y[keep], ey[use]], np.r_[real_w, ew[use]]


def world_draws(groups: np.ndarray, n: int, seed: int) -> list[dict[str, int]]:
    """``n`` bootstrap draws of the worlds (world name → times drawn), each size drawn apart
    (a world's size is its name before ``-w``: tiny and small stay 8 and 8), seeded; extra
    draws follow until every world was missed by at least one (its out-of-bag prediction)."""
    rng = np.random.default_rng(seed)
    worlds = np.unique(groups)
    strata: dict[str, list[str]] = {}
    for w in worlds:
        strata.setdefault(str(w).split("-w")[0], []).append(str(w))
    draws: list[dict[str, int]] = []
    while len(draws) < n or not all(any(d[w] == 0 for d in draws) for w in worlds):
        count = {str(w): 0 for w in worlds}
        for members in strata.values():
            for w in rng.choice(members, len(members)):
                count[str(w)] += 1
        draws.append(count)
    return draws


def _bag_extra(extra: Rows | None, count: dict[str, int]) -> Rows | None:
    """The extra rows of the worlds a draw holds, weighted by the times each was drawn."""
    if extra is None:
        return None
    eX, ey, eg, ew = extra
    mult = np.array([count[str(w)] for w in eg], float)
    keep = mult > 0
    return eX[keep], ey[keep], np.asarray(eg)[keep], (ew * mult)[keep]


def merge_boosters(boosters: list[Any]) -> Any:
    """One fitted booster whose raw log-odds are the mean of ``boosters``': every tree of
    each, its leaf values divided by their number, and the mean baseline. Trees split on raw
    input thresholds, so they need not share a binning; the result is an ordinary
    scikit-learn booster (pickled, compiled for online and read for reasons as before)."""
    import copy

    merged = copy.deepcopy(boosters[0])
    k = len(boosters)
    trees = []
    for b in boosters:
        for (tree,) in b._predictors:
            tree = copy.deepcopy(tree)
            tree.nodes["value"] /= k
            trees.append([tree])
    merged._predictors = trees
    merged._baseline_prediction = np.mean([b._baseline_prediction for b in boosters], axis=0)
    return merged


class WorldCalibratedBooster(Estimator):
    """Subclasses set their own ``__init__`` defaults (scikit-learn reads parameters from the
    subclass signature) and ``monotone(names)``: +1 / -1 / 0 per input."""

    unit = "rows"  # what a row is, for error messages

    def _booster(self, names: list[str]) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            monotonic_cst=self.monotone(names),
            random_state=self.random_state,
        )

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        names: list[str],
        sample_weight: np.ndarray | None = None,
        extra: Rows | None = None,
    ) -> WorldCalibratedBooster:
        """Fit on rows of several worlds (``groups``: the world of each row). ``sample_weight``
        (optional, one per row) weighs the boosters and the calibration alike: the calibration
        maps the raw scores of the same weighted population the boosters were fitted to.
        ``extra``: ``(X, y, groups, weight)`` of made-up rows (e.g. copies of accounts with
        some evidence masked) that train the boosters only; the calibration is fitted on the
        real rows alone, so it keeps the real worlds' base rate."""
        from sklearn.linear_model import LogisticRegression

        X, y, groups = np.asarray(X, float), np.asarray(y, int), np.asarray(groups)
        sw = None if sample_weight is None else np.asarray(sample_weight, float)
        worlds = np.unique(groups)
        if len(worlds) < 2:
            raise InvalidInputError(
                f"{type(self).__name__}.fit needs {self.unit} from at least two worlds"
            )
        # One OpenMP thread: on a shared machine spin-waiting threads made fitting many times
        # slower; the fitted trees do not depend on the thread count.
        with threadpool_limits(limits=1, user_api="openmp"):
            if getattr(self, "n_bags", 1) > 1:
                self.booster_, oof = self._fit_bagged(X, y, groups, names, sw, extra)
            else:
                self.booster_, oof = self._fit_single(X, y, groups, names, sw, extra)
        # Platt scaling on the log-odds: strictly monotone, so calibration never ties a
        # negative row with the positives ranked above it (isotonic steps do).
        self.calibrator_ = LogisticRegression(C=1.0).fit(logit(oof)[:, None], y, **_rows(sw, None))
        self.names_ = list(names)
        self.trained_on_ = [str(w) for w in worlds]
        self.n_train_ = int(len(y))
        return self

    def _fit_single(self, X, y, groups, names, sw, extra) -> tuple[Any, np.ndarray]:  # noqa: ANN001
        """One booster on every world; each world's out-of-world prediction from a booster
        fitted without it (leave one world out)."""
        oof = np.zeros(len(y))
        for w in np.unique(groups):
            held = groups == w
            b = self._booster(names).fit(*_with_extra(X, y, sw, ~held, extra, w))
            oof[held] = b.predict_proba(X[held])[:, 1]
        full = np.ones(len(y), bool)
        return self._booster(names).fit(*_with_extra(X, y, sw, full, extra, None)), oof

    def _fit_bagged(self, X, y, groups, names, sw, extra) -> tuple[Any, np.ndarray]:  # noqa: ANN001
        """``n_bags`` boosters, each on a bootstrap of the worlds (a world drawn twice weighs
        twice), merged into one booster whose log-odds are their mean; each world's
        out-of-world prediction is the mean of the boosters whose draw missed it (out of bag).

        Why: which random worlds a booster sees moves an honest-but-odd account's log-odds by
        more than the gap between the review and attack lines (leaving out one of 16 worlds
        moved a hand-written math teacher over 1.4, a university-class account 2.3); the mean of
        boosters fitted on resampled worlds keeps what every draw agrees on."""
        draws = world_draws(groups, self.n_bags, self.random_state)  # every world out once
        margin_sum, n_out = np.zeros(len(y)), np.zeros(len(y))
        boosters = []
        for count in draws:
            mult = np.array([count[w] for w in groups], float)
            base = np.ones(len(y)) if sw is None else sw
            keep = mult > 0
            ex = _bag_extra(extra, count)
            b = self._booster(names).fit(*_with_extra(X, y, base * mult, keep, ex, None))
            out = ~keep
            margin_sum[out] += b.decision_function(X[out])
            n_out[out] += 1
            boosters.append(b)
        oof = 1.0 / (1.0 + np.exp(-margin_sum / n_out))
        return merge_boosters(boosters), oof

    def raw_proba(self, X: np.ndarray) -> np.ndarray:
        """The booster's uncalibrated probability of each row."""
        self._check_fitted("booster_")
        # One OpenMP thread: a run predicts in a few large calls, where threads cost more than
        # they save; on a loaded machine their spin-waiting made analyze 3-4x slower.
        # Predictions are per row, so they do not depend on the thread count.
        with threadpool_limits(limits=1, user_api="openmp"):
            return self.booster_.predict_proba(np.asarray(X, float))[:, 1]

    def calibrated(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability of each row (zero rows: an empty deployment)."""
        if len(X) == 0:  # scikit-learn refuses zero rows
            self._check_fitted("booster_")
            return np.zeros(0)
        return self.calibrator_.predict_proba(logit(self.raw_proba(X))[:, None])[:, 1]
