"""A fitted :class:`~distillguard.scoring.model.RiskModel` evaluated with numpy, for few rows.

scikit-learn's ``predict_proba`` costs about a millisecond per call whatever the number of
rows (input validation, thread pools, per-tree Python calls). The online path scores one
account (plus one row per evidence group for its reasons), so it walks the fitted trees
here instead: every tree advances one level per step for all rows at once. The result is the
same number scikit-learn computes (``tests/scoring/test_compiled.py`` checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from ..errors import InvalidInputError
from .label_cap import label_capped, labelled_mask

# Rows per pass of ``margin``: its cost per row is flat from ~64 to ~256 rows and 4x that at
# 4,096 (the (rows x trees) index arrays leave the cache); measured on 2 cores, 250 trees.
_CHUNK = 256


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def group_drops(
    X: np.ndarray,
    groups: list[np.ndarray],
    to: np.ndarray,
    leaves: Callable[[np.ndarray, np.ndarray | None], np.ndarray],
    log_odds_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    split_on: np.ndarray,
    read_directly: Collection[int] = (),
) -> np.ndarray:
    """Per row of ``X`` and per group: the log-odds lost when the group's columns are set to
    ``to`` (negative where they lowered the risk), rows x groups. The one contributions
    function of batch (``RiskModel.contributions``: scikit-learn's trees, summed in its order,
    so its floats are its outputs') and online (:meth:`CompiledRiskModel.drops`: these numpy
    trees); each passes its own tree evaluator:

    ``leaves(X, trees)``: each row's leaf value in each tree (``None``: every tree);
    ``log_odds_of(leaves, X)``: calibrated log-odds from every tree's leaf values;
    ``split_on``: trees x inputs, whether the tree splits on the input; ``read_directly``: the
    inputs the calibration reads besides the margin (a deployment adapter's evidence).

    Per group only the trees that split on it are read again, for the rows the change moves:
    a row or tree it does not move keeps its leaf, so its drop is exactly 0."""
    own = leaves(X, None)
    base = log_odds_of(own, X)
    out = np.zeros((len(X), len(groups)))
    for g, idx in enumerate(groups):
        trees = np.flatnonzero(split_on[:, idx].any(axis=1))
        same = (X[:, idx] == to[idx]) | (np.isnan(X[:, idx]) & np.isnan(to[idx]))
        moved = np.flatnonzero(~same.all(axis=1))
        if not len(moved) or not (len(trees) or set(read_directly).intersection(idx.tolist())):
            continue
        # Every row, as in one log-odds call: a deployment adapter's matrix product is not
        # bit-identical across batch shapes.
        variant = X.copy()
        variant[:, idx] = to[idx]
        lv = own.copy()
        if len(trees):
            lv[np.ix_(moved, trees)] = leaves(variant[moved], trees)
        out[:, g] = base - log_odds_of(lv, variant)
    return out


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
        labelled = getattr(model, "labelled_attack", None)
        self.labelled_attack = labelled() if labelled is not None else frozenset()
        self.names = list(model.names_)  # type: ignore[attr-defined]
        self.ev_cols = [j for j, n in enumerate(self.names) if n.startswith("ev:")]
        self._splits: np.ndarray | None = None

    def raw_proba(self, X: np.ndarray) -> np.ndarray:
        """The boosted trees' probability (scikit-learn's ``predict_proba[:, 1]``)."""
        return _expit(self.margin(X))

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The boosted trees' raw log-odds (scikit-learn's ``decision_function``)."""
        return self.baseline + self.leaves(X).sum(axis=1)

    def leaves(self, X: np.ndarray, trees: np.ndarray | None = None) -> np.ndarray:
        """The leaf value each row of ``X`` reaches in each tree (rows × trees), or in the
        ``trees`` given only."""
        X = np.asarray(X, float)
        if len(X) > _CHUNK:  # rows are independent: chunks keep the node arrays in cache
            return np.concatenate(
                [self.leaves(X[i : i + _CHUNK], trees) for i in range(0, len(X), _CHUNK)]
            )
        arrays = (self.feature, self.threshold, self.nan_left, self.leaf, self.left, self.right)
        if trees is not None:
            arrays = tuple(a[trees] for a in arrays)
        n_trees, width = arrays[0].shape
        feature, threshold, nan_left, leaf, left, right = (a.ravel() for a in arrays)
        # Flat indices: node ids of every (row, tree) into the raveled tree arrays.
        pos = np.tile(np.arange(n_trees) * width, (len(X), 1))
        row_off = (np.arange(len(X)) * X.shape[1])[:, None]
        xs = X.ravel()
        base = pos.copy()
        for _ in range(self.depth):
            at_leaf = leaf[pos]
            if at_leaf.all():  # most trees are shallower than the deepest
                break
            x = xs[row_off + feature[pos]]
            go_left = np.where(np.isnan(x), nan_left[pos], x <= threshold[pos])
            nxt = base + np.where(go_left, left[pos], right[pos])
            pos = np.where(at_leaf, pos, nxt)
        value = self.value if trees is None else self.value[trees]
        return value.ravel()[pos]

    def variant_log_odds(
        self, X: np.ndarray, groups: list[np.ndarray], to: np.ndarray
    ) -> np.ndarray:
        """``log_odds`` of each row of ``X`` with the columns of each group set to ``to``
        (rows × groups): only the trees that split on a group are walked again, the others
        keep the row's own leaf, so every variant sums the same leaves as ``log_odds`` of it."""
        X = np.asarray(X, float)
        own = self.leaves(X)
        out = np.empty((len(X), len(groups)))
        for g, idx in enumerate(groups):
            variant = X.copy()
            variant[:, idx] = to[idx]
            trees = np.flatnonzero(self._splits_on[:, idx].any(axis=1))
            leaves = own.copy()
            if len(trees):
                leaves[:, trees] = self.leaves(variant, trees)
            out[:, g] = self._log_odds(variant, self.baseline + leaves.sum(axis=1))
        return out

    def drops(self, X: np.ndarray, groups: list[np.ndarray], to: np.ndarray) -> np.ndarray:
        """:func:`group_drops` with these trees: per row and group, ``log_odds(X)`` minus
        ``log_odds`` with the group's columns set to ``to`` (online reasons)."""
        return group_drops(
            np.asarray(X, float),
            groups,
            np.asarray(to, float),
            self.leaves,
            lambda lv, Xv: self._log_odds(Xv, self.baseline + lv.sum(axis=1)),
            self._splits_on,
            self.ev_cols if self.adapter is not None else (),
        )

    @property
    def _splits_on(self) -> np.ndarray:
        """trees × model inputs: whether the tree splits on the input."""
        if self._splits is None:
            splits = np.zeros((len(self.feature), len(self.names)), bool)
            for t in range(len(self.feature)):
                splits[t, self.feature[t][~self.leaf[t]]] = True
            self._splits = splits
        return self._splits

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

    def verdict_risk(
        self, X: np.ndarray, attack_line: float, ids: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(risk, adapted, unadapted)`` as ``RiskModel.verdict_risk``: the adapter's risk
        under the review cap (:func:`label_capped`), the adapter's own, the calibrated one."""
        X = np.asarray(X, float)
        z = _logit(self.raw_proba(X))
        a, b = self.cal
        unadapted = _expit(a * z + b)
        if self.adapter is None:
            return unadapted, unadapted, unadapted
        coef, intercept = self.adapter
        adapted = _expit(np.column_stack([z, np.nan_to_num(X[:, self.ev_cols])]) @ coef + intercept)
        labelled = labelled_mask(ids, self.labelled_attack, len(X))
        return label_capped(adapted, unadapted, attack_line, labelled), adapted, unadapted

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        """The calibrated risk as log-odds, as ``RiskModel.log_odds`` (reasons are drops in it)."""
        X = np.asarray(X, float)
        return self._log_odds(X, self.margin(X))

    def _log_odds(self, X: np.ndarray, margin: np.ndarray) -> np.ndarray:
        if self.adapter is not None:
            coef, intercept = self.adapter
            return np.column_stack([margin, np.nan_to_num(X[:, self.ev_cols])]) @ coef + intercept
        a, b = self.cal
        return a * margin + b
