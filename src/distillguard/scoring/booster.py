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
        oof = np.zeros(len(y))
        # One OpenMP thread: on a shared machine spin-waiting threads made fitting many times
        # slower; the fitted trees do not depend on the thread count.
        with threadpool_limits(limits=1, user_api="openmp"):
            for w in worlds:  # leave one world out: calibration sees only unseen-world scores
                held = groups == w
                b = self._booster(names).fit(*_with_extra(X, y, sw, ~held, extra, w))
                oof[held] = b.predict_proba(X[held])[:, 1]
            full = np.ones(len(y), bool)
            self.booster_ = self._booster(names).fit(*_with_extra(X, y, sw, full, extra, None))
        # Platt scaling on the log-odds: strictly monotone, so calibration never ties a
        # negative row with the positives ranked above it (isotonic steps do).
        self.calibrator_ = LogisticRegression(C=1.0).fit(logit(oof)[:, None], y, **_rows(sw, None))
        self.names_ = list(names)
        self.trained_on_ = [str(w) for w in worlds]
        self.n_train_ = int(len(y))
        return self

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
