"""A fitted :class:`~distillguard.scoring.model.RiskModel` evaluated with numpy, for few rows.

scikit-learn's ``predict_proba`` costs about a millisecond per call whatever the number of
rows (input validation, thread pools, per-tree Python calls). The online path scores one
account (plus one row per evidence group for its reasons), so it walks the fitted trees
here instead: every tree advances one level per step for all rows at once. The result is the
same number scikit-learn computes (``tests/scoring/test_compiled.py`` checks it).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

# Rows per pass of ``margin``: its cost per row is flat from ~64 to ~256 rows and 4x that at
# 4,096 (the (rows x trees) index arrays leave the cache); measured on 2 cores, 250 trees.
_CHUNK = 256


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class CompiledRiskModel:
    """The trees, Platt calibration and deployment adapter of a fitted ``RiskModel`` as
    padded arrays (trees × nodes); ``predict_risk`` matches ``RiskModel.predict_risk``."""

    def __init__(self, model: object) -> None:
        booster = model.booster_  # type: ignore[attr-defined]
        trees = [t[0].nodes for t in booster._predictors]  # binary: one tree per iteration
        if any(len(t) and t["is_categorical"].any() for t in trees):
            raise InvalidInputError("compiled risk model: categorical splits are not supported")
        width = max(len(t) for t in trees)
        shape = (len(trees), width)
        self.feature = np.zeros(shape, np.intp)
        self.threshold = np.zeros(shape)
        self.nan_left = np.zeros(shape, bool)
        self.left = np.zeros(shape, np.intp)
        self.right = np.zeros(shape, np.intp)
        self.leaf = np.ones(shape, bool)
        self.value = np.zeros(shape)
        for i, t in enumerate(trees):
            k = len(t)
            self.feature[i, :k] = t["feature_idx"]
            self.threshold[i, :k] = t["num_threshold"]
            self.nan_left[i, :k] = t["missing_go_to_left"].astype(bool)
            self.left[i, :k] = t["left"]
            self.right[i, :k] = t["right"]
            self.leaf[i, :k] = t["is_leaf"].astype(bool)
            self.value[i, :k] = t["value"]
        self.depth = int(max(t["depth"].max() for t in trees)) if trees else 0
        self.baseline = float(np.ravel(booster._baseline_prediction)[0])
        cal = model.calibrator_  # type: ignore[attr-defined]
        self.cal = (float(cal.coef_[0, 0]), float(cal.intercept_[0]))
        adapter = getattr(model, "adapter_", None)
        self.adapter = (
            None if adapter is None else (np.ravel(adapter.coef_), float(adapter.intercept_[0]))
        )
        self.names = list(model.names_)  # type: ignore[attr-defined]
        self.ev_cols = [j for j, n in enumerate(self.names) if n.startswith("ev:")]

    def raw_proba(self, X: np.ndarray) -> np.ndarray:
        """The boosted trees' probability (scikit-learn's ``predict_proba[:, 1]``)."""
        return _expit(self.margin(X))

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The boosted trees' raw log-odds (scikit-learn's ``decision_function``)."""
        X = np.asarray(X, float)
        if len(X) > _CHUNK:  # rows are independent: chunks keep the node arrays in cache
            return np.concatenate([self.margin(X[i : i + _CHUNK]) for i in range(0, len(X), _CHUNK)])
        n_trees, width = self.feature.shape
        # Flat indices: node ids of every (row, tree) into the raveled tree arrays.
        pos = np.tile(np.arange(n_trees) * width, (len(X), 1))
        row_off = (np.arange(len(X)) * X.shape[1])[:, None]
        xs = X.ravel()
        feature, threshold = self.feature.ravel(), self.threshold.ravel()
        nan_left, leaf = self.nan_left.ravel(), self.leaf.ravel()
        left, right = self.left.ravel(), self.right.ravel()
        base = pos.copy()
        for _ in range(self.depth):
            at_leaf = leaf[pos]
            if at_leaf.all():  # most trees are shallower than the deepest
                break
            x = xs[row_off + feature[pos]]
            go_left = np.where(np.isnan(x), nan_left[pos], x <= threshold[pos])
            nxt = base + np.where(go_left, left[pos], right[pos])
            pos = np.where(at_leaf, pos, nxt)
        return self.baseline + self.value.ravel()[pos].sum(axis=1)

    def predict_risk(self, X: np.ndarray) -> np.ndarray:
        """Calibrated risk, as ``RiskModel.predict_risk``."""
        X = np.asarray(X, float)
        raw = self.raw_proba(X)
        if self.adapter is not None:
            coef, intercept = self.adapter
            z = np.column_stack([_logit(raw), np.nan_to_num(X[:, self.ev_cols])]) @ coef
            return _expit(z + intercept)
        a, b = self.cal
        return _expit(a * _logit(raw) + b)

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        """The calibrated risk as log-odds, as ``RiskModel.log_odds`` (reasons are drops in it)."""
        X = np.asarray(X, float)
        margin = self.margin(X)
        if self.adapter is not None:
            coef, intercept = self.adapter
            return np.column_stack([margin, np.nan_to_num(X[:, self.ev_cols])]) @ coef + intercept
        a, b = self.cal
        return a * margin + b
