"""The learned risk model: evidence relative to its own deployment, combined by a model trained
on random worlds only.

Why relative: a hand-set weight on "12 requests an hour" or "40% data-centre IPs" encodes the
one world it was tuned in. Ranked within the deployment (and within the accounts that reach
it the same way) the same evidence reads "busier than 99% of this provider's accounts", which
is what carries over to a provider we never saw.

Inputs per account (``model_inputs``): every hand-set evidence strength (``ev:``), and every
feature the catalog names as a percentile in the deployment (``pct:``) and within the
account's comparable cohort (``rcv:``: same access route, client kind and volume quartile,
coarser when that cohort is too small; see "comparable cohorts" below). ``coh:`` (within the
volume cohort alone) is still written for models trained before ``rcv:``. A histogram
gradient-boosting classifier, monotone in the inputs whose direction is known, is fitted on
random train worlds; Platt calibration is fitted on out-of-world predictions (each world
predicted by a model that did not see it). Reasons come from per-evidence contributions: the drop in log-odds of risk when
an evidence group's inputs are set to the deployment's median.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from threadpoolctl import threadpool_limits

from ..accounts._base import Estimator
from ..errors import InvalidInputError, NotFittedError
from .artifact import load_artifact, save_artifact
from .booster import WorldCalibratedBooster, logit
from .catalog import ABUSED_ROUTES, BY_NAME, CATALOG, HAND_SET, direction_of, feature_columns
from .compiled import group_drops
from .label_cap import (
    LABELLED_ATTACK,
    RAISED_TO_REVIEW,
    label_capped,
    labelled_mask,
    raised_to_review,
)
from .recipe import TRAIN_RECIPE
from .reference import DeploymentReference
from .scorer import Columns, has_column, n_rows, scol, verdicts

MODEL_DIR = Path(__file__).with_name("models")
BUILTIN = MODEL_DIR / "risk-model.json"
FORMAT_VERSION = 1
N_COHORTS = 4
# Accounts a deployment needs before percentiles within it mean anything: below this, a
# one-account log would read as "the median account" everywhere, a population the model never
# saw; the hand-set weights score it instead (batch and online alike).
MIN_POPULATION = 20


# ---- inputs ---------------------------------------------------------------------------------
def percentile(x: np.ndarray) -> np.ndarray:
    """Mid-rank percentile in (0, 1) of each value among the finite ones; NaN stays NaN.

    Values are rounded first: an engine's parallel sums differ in the last bits from run to
    run, and equal accounts must stay tied (mid-rank), not be ordered by float noise. One
    group of :func:`group_percentile`, the one mid-rank code path."""
    x = np.asarray(x, float)
    return group_percentile(x, np.zeros(len(x), np.int64))


def volume_cohort(n_requests: np.ndarray) -> np.ndarray:
    """Cohort 0..3: the account's volume quartile in its own deployment."""
    return np.minimum((percentile(np.log1p(n_requests)) * N_COHORTS).astype(int), N_COHORTS - 1)


# ---- comparable cohorts ---------------------------------------------------------------------
# A reviewer compares an account with accounts that reach the API the same way: how it arrives
# (its requests' `access_route` kind, docs/CONTRACT.md §1), with what client (browser or
# program) and at what volume. The account features carry the first two keys (``route_kind``,
# ``client_kind``: scoring.definitions.ACCOUNT_COHORT_KEYS); an account without them (a log
# without the fields) is ranked in its volume cohort alone, as before route cohorts.
ROUTE_KINDS = ("direct", "cloud", "reseller")
ANY = "*"  # no key at this level: the account is ranked at a coarser one


def min_cohort_size(n_accounts: int) -> int:
    """Fewest accounts a cohort needs to rank within it: ``ceil(sqrt(n))``. The square-root
    rule of histogram bins: with n accounts it allows as many cohorts as members in each, so a
    percentile within a cohort is as fine-grained as the number of cohorts is large; a smaller
    cohort falls back to its coarser one (route and volume, then volume alone)."""
    return max(int(math.ceil(math.sqrt(max(n_accounts, 0)))), 1)


def cohort_levels(features: Columns, volume: np.ndarray) -> list[np.ndarray]:
    """The account's cohort keys, finest first: ``route|client|v<q>``, ``route|v<q>``, then
    ``v<q>`` (``volume``: its volume cohort 0..3); ``*`` where the log does not say (an unknown
    route or client is not a cohort of its own)."""
    route = scol(features, "route_kind")
    client = scol(features, "client_kind")
    vol = np.array([f"v{int(q)}" for q in volume], dtype=object)
    known = np.isin(route, ROUTE_KINDS)
    by_route = np.where(known, route + "|" + vol, ANY)
    fine = np.where(known & (client != ""), route + "|" + client + "|" + vol, ANY)
    return [fine.astype(object), by_route.astype(object), vol]


def cohort_level(levels: list[np.ndarray], minimum: int) -> np.ndarray:
    """Each account's level: the index of its finest key whose cohort has at least
    ``minimum`` accounts, or ``len(levels)`` (the whole deployment)."""
    out = np.full(len(levels[0]), len(levels))
    for i in reversed(range(len(levels))):  # finest last, so it wins
        keys = levels[i]
        _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        out[(keys != ANY) & (counts[inv] >= minimum)] = i
    return out


ByValue = tuple[np.ndarray, np.ndarray]  # positions of the finite values, in value order; values


def value_order(x: np.ndarray) -> ByValue:
    """The positions of the finite values of ``x`` sorted by value (rounded as
    :func:`percentile` rounds), and those values: one sort shared by every grouping."""
    ok = np.nonzero(np.isfinite(x))[0]
    xr = np.round(np.asarray(x, float)[ok], 9)
    o = np.argsort(xr, kind="stable")
    return ok[o], xr[o]


def group_percentile(
    x: np.ndarray, codes: np.ndarray, by_value: ByValue | None = None
) -> np.ndarray:
    """:func:`percentile` of each value among the values sharing its group code (``codes``,
    integers; a negative code is no group: NaN), every group at once instead of one
    ``rankdata`` per group (a deployment has ~30 cohorts per feature), with the same
    rounding; the mid-rank ``(first + last) / 2`` of a run of ties is the one
    ``scipy.stats.rankdata(method="average")`` gives, bit for bit.
    ``by_value``: :func:`value_order` of ``x``, when several groupings share it."""
    idx, xs = by_value if by_value is not None else value_order(x)
    out = np.full(len(x), np.nan)
    g = np.asarray(codes)[idx]
    keep = g >= 0
    idx, xs, g = idx[keep], xs[keep], g[keep]
    if not len(idx):
        return out
    if g.max() < 2**15:  # few groups: numpy's stable sort of int16 is a linear radix sort
        g = g.astype(np.int16)
    o = np.argsort(g, kind="stable")  # by group, in value order within each
    idx, xs, gs = idx[o], xs[o], g[o]
    i = np.arange(len(idx))
    new_group = np.r_[True, gs[1:] != gs[:-1]]
    new_run = new_group | np.r_[True, xs[1:] != xs[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, i, 0))
    run_start = np.maximum.accumulate(np.where(new_run, i, 0))
    run_end = np.r_[np.nonzero(new_run)[0][1:], len(i)][np.cumsum(new_run) - 1]  # one past
    n = np.diff(np.r_[np.nonzero(new_group)[0], len(i)])[np.cumsum(new_group) - 1]
    # the run's 1-based ranks in its group: run_start - group_start + 1 .. run_end - group_start
    mid = 0.5 * ((run_start - group_start + 1) + (run_end - group_start))
    out[idx] = (mid - 0.5) / n
    return out


Plan = tuple[list[np.ndarray], np.ndarray]  # each level's group codes, each account's level


def cohort_plan(levels: list[np.ndarray], level: np.ndarray) -> Plan:
    """The cohorts batch ranks in: per level, each account's key as an integer group code
    (every account sharing the key is a member, whichever level it is placed at), and each
    account's level (``level``; ``len(levels)``: the whole deployment). Built once for all
    features (grouping object keys per feature cost ~5x the percentiles themselves)."""
    codes = [np.unique(keys, return_inverse=True)[1].reshape(-1) for keys in levels]
    return codes, np.asarray(level)


def cohort_percentile(x: np.ndarray, plan: Plan, by_value: ByValue | None = None) -> np.ndarray:
    """Percentile of each value among every account sharing its key at its level (a cloud
    account whose cloud|browser cohort of its volume is too small is ranked among all cloud
    accounts of its volume); ``plan`` from :func:`cohort_plan`. One grouped sort per level."""
    codes, level = plan
    by_value = by_value if by_value is not None else value_order(x)
    out = np.full(len(x), np.nan)
    for i, code in enumerate([*codes, np.zeros(len(x), int)]):  # the last: the deployment
        placed = level == i
        if placed.any():
            out[placed] = group_percentile(x, code, by_value)[placed]
    return out


def attach_cohort_keys(features: pa.Table, keys: pa.Table) -> pa.Table:
    """``features`` with each account's ``route_kind`` and ``client_kind`` from ``keys``
    (:data:`scoring.definitions.ACCOUNT_COHORT_KEYS`; NULL for an account it lacks)."""
    at = pc.index_in(features.column("account_id"), keys.column("account_id"))
    for name in ("route_kind", "client_kind"):
        if name in features.column_names:
            features = features.drop_columns([name])
        features = features.append_column(name, pc.take(keys.column(name), at))
    return features


def route_groups(features: Columns, volume: np.ndarray) -> dict[str, np.ndarray]:
    """Every cohort key (any level) with at least :func:`min_cohort_size` accounts → its
    members: the cohorts batch ranks in, which the reference keeps for online."""
    levels = cohort_levels(features, volume)
    minimum = min_cohort_size(len(levels[0]))
    groups = {}
    for keys in levels:
        uniq, counts = np.unique(keys, return_counts=True)
        for k, c in zip(uniq, counts, strict=True):
            if k != ANY and c >= minimum:
                groups[str(k)] = keys == k
    return groups


def input_features(features: Columns, cluster_size: np.ndarray) -> dict[str, np.ndarray]:
    """Every account feature the catalog names, as float arrays (NaN where unknown)."""
    n = n_rows(features)

    def num(name: str) -> np.ndarray:
        if name == "cluster_size":
            return np.asarray(cluster_size, float)
        if name == "abused_route":
            return np.isin(scol(features, "signup_route"), ABUSED_ROUTES).astype(float)
        if not has_column(features, name):
            return np.full(n, np.nan)
        if isinstance(features, pa.Table):
            return np.asarray(
                features.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
            )
        return np.asarray(features[name], float)

    return {c: num(c) for c in ("n_requests", *feature_columns())}


def model_input_columns(
    features: Columns,
    strengths: dict[str, np.ndarray],
    cluster_size: np.ndarray,
    reference: DeploymentReference | None = None,
) -> dict[str, np.ndarray]:
    """Every model input (see the module docstring) as one array per input name.

    Percentiles are among these accounts, or read against ``reference`` (a deployment
    published by batch) when given: how one account is scored online."""
    n = n_rows(features)
    raw = input_features(features, cluster_size)
    cols: dict[str, np.ndarray] = {}
    for name in HAND_SET:
        cols[f"ev:{name}"] = np.asarray(strengths.get(name, np.zeros(n)), float)
    if reference is None:
        cohort = volume_cohort(np.nan_to_num(raw["n_requests"]))
    else:
        cohort = reference.cohort(np.log1p(np.nan_to_num(raw["n_requests"])))
    levels = cohort_levels(features, cohort)
    if reference is None:
        plan = cohort_plan(levels, cohort_level(levels, min_cohort_size(n)))
    for c in feature_columns():
        x = raw[c]
        if reference is not None:
            cols[f"pct:{c}"] = reference.percentile(c, x)
            cols[f"coh:{c}"] = reference.percentile(c, x, cohort)
            cols[f"rcv:{c}"] = reference.route_percentile(c, x, levels)
            continue
        by_value = value_order(x)  # one sort of the feature for its three rankings
        cols[f"pct:{c}"] = group_percentile(x, np.zeros(n, int), by_value)
        cols[f"coh:{c}"] = group_percentile(x, cohort, by_value)
        cols[f"rcv:{c}"] = cohort_percentile(x, plan, by_value)
    return cols


def model_inputs(
    features: pa.Table,
    strengths: dict[str, np.ndarray],
    cluster_size: np.ndarray,
    reference: DeploymentReference | None = None,
) -> pa.Table:
    """One row per account: ``account_id`` and every model input (:func:`model_input_columns`)."""
    cols = model_input_columns(features, strengths, cluster_size, reference)
    return pa.table({"account_id": features.column("account_id"), **cols})


def deployment_reference(
    features: Columns, cluster_size: np.ndarray, inputs: pa.Table | dict[str, np.ndarray]
) -> DeploymentReference:
    """The distributions :func:`model_inputs` ranked these accounts against (batch publishes
    them as ``risk_reference.json`` so one account can be ranked the same way online)."""
    raw = input_features(features, cluster_size)
    n_req = np.nan_to_num(raw["n_requests"])
    columns = {c: raw[c] for c in feature_columns()}
    if isinstance(inputs, pa.Table):
        inputs = {
            c: inputs.column(c).to_numpy(zero_copy_only=False)
            for c in inputs.column_names
            if c != "account_id"
        }
    cohort = volume_cohort(n_req)
    return DeploymentReference.fit(
        columns, cohort, np.log1p(n_req), inputs, N_COHORTS, route_groups(features, cohort)
    )


def input_names() -> list[str]:
    """The model inputs of this catalog, in the order :func:`model_inputs` writes them."""
    names = [f"ev:{name}" for name in HAND_SET]
    for c in feature_columns():
        # rcv: (route, client and volume cohort) replaced coh: (volume cohort alone) as what a
        # new model reads; model_inputs still writes coh: for models trained before it.
        names += [f"pct:{c}", f"rcv:{c}"]
    return names


def evidence_of(input_name: str) -> str:
    """The catalog evidence an input belongs to (``ev:x`` → x; ``pct:col`` → the reader)."""
    kind, _, name = input_name.partition(":")
    if kind == "ev":
        return name
    return next(e.name for e in CATALOG if name in (c for c, _ in e.inputs))


def evidence_groups(names: list[str]) -> dict[str, list[int]]:
    """Evidence → the positions of its inputs in ``names`` (contributions are per group)."""
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(names):
        groups.setdefault(evidence_of(name), []).append(j)
    return groups


# ---- the model ------------------------------------------------------------------------------
class RiskModel(WorldCalibratedBooster):
    """Calibrated account risk from :func:`model_inputs`.

    Parameters
    ----------
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization :
        of scikit-learn's ``HistGradientBoostingClassifier``.
    random_state : int.

    Attributes
    ----------
    names_ : input names; booster_ : the fitted classifier; calibrator_ : Platt map
    from raw log-odds to risk, fitted on out-of-world predictions; trained_on_ : world names.
    """

    def __init__(
        self,
        max_iter: int = 250,
        learning_rate: float = 0.06,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 30,
        l2_regularization: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    unit = "accounts"

    def monotone(self, names: list[str]) -> list[int]:
        # Monotone in every input whose direction is known: a model that may not learn "less
        # harvest content is more suspicious" cannot fit that artifact of its train worlds.
        return [
            BY_NAME[n[3:]].direction if n.startswith("ev:") else direction_of(n.partition(":")[2])
            for n in names
        ]

    def predict_risk(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, float)
        adapter = getattr(self, "adapter_", None)
        if adapter is None or len(X) == 0:
            return self.calibrated(X)
        return adapter.predict_proba(self._adapter_inputs(X, self.raw_proba(X)))[:, 1]

    def verdict_risk(
        self,
        X: np.ndarray,
        attack_line: float,
        ids: Sequence[str] | pa.ChunkedArray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(risk, adapted, unadapted)``: the risk verdicts read (the adapter's, under the
        review cap of :func:`label_capped`), the adapter's own and the calibrated model's.
        ``ids`` (the rows' accounts) puts those the operator labelled attack at `attack`."""
        X = np.asarray(X, float)
        adapter = getattr(self, "adapter_", None)
        if adapter is None or len(X) == 0:
            risk = self.calibrated(X)
            return risk, risk, risk
        raw = self.raw_proba(X)  # the trees once: both risks read their margin
        unadapted = self.calibrator_.predict_proba(logit(raw)[:, None])[:, 1]
        adapted = adapter.predict_proba(self._adapter_inputs(X, raw))[:, 1]
        labelled = labelled_mask(ids, self.labelled_attack(), len(X))
        return label_capped(adapted, unadapted, attack_line, labelled), adapted, unadapted

    def labelled_attack(self) -> frozenset[str]:
        """The accounts the operator labelled attack when the model was adapted (``learn``)."""
        adapted_on = getattr(self, "manifest_", {}).get("adapted_on") or {}
        return frozenset(adapted_on.get("attack_accounts", ()))

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        """The calibrated risk as log-odds, unclipped: ``predict_risk`` is its sigmoid."""
        self._check_fitted("booster_")
        with threadpool_limits(limits=1, user_api="openmp"):
            margin = self.booster_.decision_function(np.asarray(X, float))
        return self._calibrate_margin(margin, np.asarray(X, float))

    def _adapter_inputs(self, X: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """The deployment adapter reads the model's log-odds and the evidence strengths."""
        return np.column_stack([logit(raw), np.nan_to_num(X[:, self._evidence_idx()])])

    def adapt(self, X: np.ndarray, labels: np.ndarray) -> RiskModel:
        """Refit the last stage on the deployment's own labels (1 attack, 0 benign, -1 none).

        The adapter is a logistic regression over the trees' margin and the evidence
        strengths, fitted as a correction to the model's own calibration: the penalty pulls it
        back to the calibrated model, never to zero, and the unlabelled accounts keep their
        current risk as soft targets. Positive-only labels (PU) picked from the top of a review
        queue say nothing about the deployment's base rate, so they may lift the evidence
        pattern of the labelled accounts but not shift every account's risk; labels the model
        already agreed with change nothing. The booster learned on random worlds stays as it is.
        """
        from sklearn.linear_model import LogisticRegression

        self._check_fitted("booster_")
        X, labels = np.asarray(X, float), np.asarray(labels, int)
        if not (labels == 1).any():
            raise InvalidInputError("learn needs at least one account labelled attack")
        inputs = self._adapter_inputs(X, self.raw_proba(X))
        cal = self.calibrator_
        prior = np.r_[cal.coef_[0, 0], np.zeros(inputs.shape[1] - 1)], float(cal.intercept_[0])
        coef, intercept = _fit_adapter(inputs, labels, self.calibrated(X), prior)
        adapter = LogisticRegression()
        adapter.classes_ = np.array([0, 1])
        adapter.coef_, adapter.intercept_ = coef[None, :], np.array([intercept])
        self.adapter_ = adapter
        self.n_adapted_ = int((labels != -1).sum())
        return self

    def contributions(
        self, X: np.ndarray, rows: np.ndarray, signed: bool = False
    ) -> dict[str, np.ndarray]:
        """Per evidence, the log-odds of risk lost when its inputs are set to the deployment's
        median (only for ``rows``; others 0). Positive parts only (what raised the risk)
        unless ``signed``: then a negative value is the log-odds the evidence took away (an
        account older than the deployment's median account), which a reviewer needs to see
        to judge a case as much as what raised it.

        Log-odds, not probability: where several pieces of evidence each suffice, removing
        one leaves the risk near 1 and a probability drop would credit none of them (an
        `attack` verdict whose reasons said "no evidence"). Log-odds are also the hand-set
        scorer's unit (weight × strength), so one reason threshold serves both.

        The same numbers as one ``log_odds`` call per evidence group, computed with less work:
        each tree's leaf value is read once per row, and per group only the trees that split
        on one of its inputs are re-read, for the rows whose inputs the median changes (a
        row or tree it does not change keeps its leaf, so its contribution is exactly 0).
        Leaves are summed in scikit-learn's order, so the floats are identical.
        (scikit-learn's boosters have no SHAP-like ``pred_contrib``; these are not SHAP.)"""
        X = np.asarray(X, float)
        rows = np.asarray(rows, np.intp)
        with warnings.catch_warnings():  # an input missing for every account stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
        groups = evidence_groups(self.names_)
        out = {ev: np.zeros(len(X)) for ev in groups}
        if not len(rows):
            return out
        split_on = np.zeros((len(self.booster_._predictors), len(self.names_)), bool)
        for t, f in enumerate(self._split_features()):
            split_on[t, sorted(f)] = True
        # The function online's compiled model uses too (scoring.compiled.group_drops), with
        # scikit-learn's own trees and summing order here.
        drops = group_drops(
            X[rows],
            [np.asarray(idx, np.intp) for idx in groups.values()],
            median,
            self._leaves,
            self._log_odds_of,
            split_on,
            self._adapter_inputs_idx(),
        )
        for g, ev in enumerate(groups):
            out[ev][rows] = drops[:, g] if signed else np.maximum(drops[:, g], 0.0)
        return out

    def _adapter_inputs_idx(self) -> set[int]:
        """The inputs a deployment adapter reads besides the trees' margin (none without one)."""
        if getattr(self, "adapter_", None) is None:
            return set()
        return set(self._evidence_idx())

    def _evidence_idx(self) -> list[int]:
        """Where the evidence strengths (``ev:``) sit among the model's inputs."""
        return [j for j, n in enumerate(self.names_) if n.startswith("ev:")]

    def _split_features(self) -> list[set[int]]:
        """Per tree, the inputs it splits on (a tree's leaf depends on these only)."""
        nodes = [p[0].nodes for p in self.booster_._predictors]  # binary: one tree per step
        return [set(n["feature_idx"][n["is_leaf"] == 0].tolist()) for n in nodes]

    def _leaves(self, X: np.ndarray, trees: list[int] | None = None) -> np.ndarray:
        """Rows × trees: each tree's leaf value for each row (scikit-learn's own predictors,
        as its ``_predict_iterations`` calls them)."""
        b = self.booster_
        X = b._preprocess_X(X, reset=False)
        cats, f_idx = b._bin_mapper.make_known_categories_bitsets()
        preds = [p[0] for p in b._predictors]
        trees = range(len(preds)) if trees is None else trees
        out = np.empty((len(X), len(trees)))
        with threadpool_limits(limits=1, user_api="openmp"):
            for j, t in enumerate(trees):
                out[:, j] = preds[t].predict(X, known_cat_bitsets=cats, f_idx_map=f_idx, n_threads=1)
        return out

    def _log_odds_of(self, leaves: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``log_odds`` from the leaf values of every tree: summed tree by tree from the
        baseline, in scikit-learn's ``_raw_predict`` order (so the floats are the same)."""
        margin = np.zeros(len(leaves)) + self.booster_._baseline_prediction.ravel()[0]
        for t in range(leaves.shape[1]):
            margin += leaves[:, t]
        return self._calibrate_margin(margin, X)

    def _calibrate_margin(self, margin: np.ndarray, X: np.ndarray) -> np.ndarray:
        adapter = getattr(self, "adapter_", None)
        if adapter is not None:
            ev = np.nan_to_num(X[:, self._evidence_idx()])
            return adapter.decision_function(np.column_stack([margin, ev]))
        return self.calibrator_.decision_function(margin[:, None])

    # ---- artifact ---------------------------------------------------------------------------
    def save(self, manifest: Path, extra: dict | None = None) -> Path:
        """``manifest`` (JSON: version, inputs, training worlds) + the pickled estimators."""
        self._check_fitted("booster_")
        estimators = {
            "booster": self.booster_,
            "calibrator": self.calibrator_,
            "adapter": getattr(self, "adapter_", None),
        }
        meta = {
            "format_version": FORMAT_VERSION,
            "estimator": "HistGradientBoostingClassifier + Platt scaling (LogisticRegression)",
            "params": self.get_params(),
            "inputs": self.names_,
            "trained_on": self.trained_on_,
            "n_train_accounts": self.n_train_,
            **(extra or {}),
        }
        return save_artifact(manifest, estimators, meta)

    @classmethod
    def load(cls, manifest: str | Path) -> RiskModel:
        meta, blob = load_artifact(manifest, "risk model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.booster_, model.calibrator_ = blob["booster"], blob["calibrator"]
        model.adapter_ = blob.get("adapter")
        model.names_, model.trained_on_ = meta["inputs"], meta["trained_on"]
        model.n_train_ = meta["n_train_accounts"]
        model.manifest_ = meta
        return model





def resolve(setting: str) -> RiskModel | None:
    """The policy's ``risk_model`` setting as a model (``none``: the hand-set scorer)."""
    if setting == "none":
        return None
    path = BUILTIN if setting == "builtin" else Path(setting)
    if setting == "builtin" and not path.is_file():
        return None  # a source tree before `distillguard train` was run: hand-set weights
    return RiskModel.load(path)


def align(inputs: pa.Table, names: list[str]) -> np.ndarray:
    """The model's input matrix from a ``model_inputs`` table (missing inputs are NaN)."""
    n = inputs.num_rows
    cols = [
        np.asarray(inputs.column(c).to_numpy(zero_copy_only=False), float)
        if c in inputs.column_names
        else np.full(n, np.nan)
        for c in names
    ]
    return np.column_stack(cols) if cols else np.zeros((n, 0))


class LearnedAccountScorer(Estimator):
    """Risk and verdict from a :class:`RiskModel`; the same attributes as ``AccountScorer``."""

    def __init__(
        self,
        model: RiskModel | None = None,
        review_threshold: float = 0.5,
        attack_threshold: float = 0.9,
    ) -> None:
        self.model = model
        self.review_threshold = review_threshold
        self.attack_threshold = attack_threshold

    def fit(self, inputs: pa.Table) -> LearnedAccountScorer:
        if self.model is None:
            raise NotFittedError("LearnedAccountScorer needs a fitted RiskModel")
        X = align(inputs, self.model.names_)
        ids = inputs.column("account_id") if self.model.labelled_attack() else None
        self.risk_, adapted, self.unadapted_risk_ = self.model.verdict_risk(
            X, self.attack_threshold, ids
        )
        self.verdict_ = self.verdicts(self.risk_)
        flagged = np.nonzero(self.risk_ >= 0.5 * self.review_threshold)[0]
        # Signed, like the hand-set scorer's weight x strength: the reasons show what lowered
        # the risk too.
        self.contributions_ = self.model.contributions(X, flagged, signed=True)
        self.weights_ = {e: BY_NAME[e].prior_weight for e in self.contributions_}
        self._label_reasons(adapted, ids)
        return self

    def _label_reasons(self, adapted: np.ndarray, ids: pa.ChunkedArray | None) -> None:
        """What the operator's labels did, as the ``operator_labels`` contribution (the
        log-odds they added) and its text: held at review by the cap, or attack by label."""
        line = self.attack_threshold
        capped = raised_to_review(self.risk_, adapted, line)
        labelled = labelled_mask(ids, self.model.labelled_attack(), len(self.risk_))
        self.label_capped_ = capped
        if not (capped.any() or labelled.any()):
            return
        text = np.full(len(self.risk_), "", object)
        for i in np.flatnonzero(capped):  # a loop over the few accounts labels moved
            text[i] = (
                f"{RAISED_TO_REVIEW}: the adapted model's risk {adapted[i]:.3f} is past the "
                f"attack line, the model's own {self.unadapted_risk_[i]:.3f} is not (labels "
                "alone never make an attack)"
            )
        text[labelled] = LABELLED_ATTACK
        self.label_text_ = text
        lift = logit(self.risk_) - logit(self.unadapted_risk_)
        # Above the reason threshold however little it lifted: it says why the verdict is
        # review, not attack (or attack).
        self.contributions_ = {
            **self.contributions_,
            "operator_labels": np.where(capped | labelled, np.maximum(lift, 0.06), 0.0),
        }

    def verdicts(self, risk: np.ndarray) -> np.ndarray:
        return verdicts(risk, self.review_threshold, self.attack_threshold)

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        params["model"] = getattr(self.model, "manifest_", {}).get("trained_on", "in memory")
        return params


# ---- training -------------------------------------------------------------------------------
def training_table(
    worlds: list[Path],
    findings: list[Path],
    groups: list[str] | None = None,
    balance_kinds: bool = False,
) -> tuple[Any, ...]:
    """``(X, y, groups, names, weight)`` from each world's labels and its
    ``model_inputs.parquet``; ``groups`` names the world each one belongs to for out-of-world
    calibration (default its folder name; a slice of a world goes with its world). ``weight``
    is None, or with ``balance_kinds`` :func:`kind_balanced_weights` of each world."""
    X, y, g, _, weight = _stack(_training_parts(worlds, findings, groups, balance_kinds))
    return X, y, g, input_names(), weight


Part = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]  # one deployment's X, y, ...


def _stack(parts: list[Part]) -> tuple[Any, ...]:
    """``(X, y, groups, deployment, weight)`` of every part's rows (``deployment``: the
    part's index; ``weight`` None unless the parts carry weights)."""
    weight = None if parts[0][3] is None else np.concatenate([p[3] for p in parts])
    X, y = np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    dep = np.concatenate([np.full(len(p[1]), i) for i, p in enumerate(parts)])
    return X, y, np.concatenate([p[2] for p in parts]), dep, weight


def _training_parts(
    worlds: list[Path], findings: list[Path], groups: list[str] | None, balance_kinds: bool
) -> list[Part]:
    """Per deployment (a world or one of its slices): ``(X, y, groups, weight)``."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parts = []
    groups = groups or [Path(w).name for w in worlds]
    names = input_names()
    for world, f, group in zip(worlds, findings, groups, strict=True):
        path = Path(f) / "model_inputs.parquet"
        if not path.is_file():
            raise InvalidInputError(f"{path} missing: run detect with model inputs kept")
        t = pq.read_table(path)
        # campaign_id only when weighing by kind (read as text: an all-benign slice is empty).
        cols = ["account_id", "is_attack"] + (["campaign_id"] if balance_kinds else [])
        labels = pacsv.read_csv(
            Path(world) / "labels.csv",
            convert_options=pacsv.ConvertOptions(
                include_columns=cols, column_types={"campaign_id": pa.string()}
            ),
        )
        t = t.join(labels, "account_id", join_type="inner")
        y = np.asarray(t.column("is_attack").to_numpy(), int)
        w = None
        if balance_kinds:
            w = kind_balanced_weights(y, row_kinds(world, t.column("campaign_id")))
        parts.append((align(t, names), y, np.full(t.num_rows, group, dtype=object), w))
    return parts


def campaign_kinds(world: Path) -> dict[str, str]:
    """``campaign_id → kind`` from a simulated world's ``sim_summary.json`` (``campaigns``)."""
    summary = json.loads((Path(world) / "sim_summary.json").read_text())
    return {cid: c["type"] for cid, c in summary.get("campaigns", {}).items()}


def row_kinds(world: Path, campaign_id: pa.ChunkedArray) -> np.ndarray:
    """The campaign kind of each row (``""``: no campaign)."""
    kind = campaign_kinds(world)
    return np.array([kind.get(c, "") if c else "" for c in campaign_id.to_pylist()], dtype=object)


def kind_balanced_weights(y: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """One world's row weights in which every campaign kind counts the same: the attack
    accounts keep their total weight (so the base rate the calibration sees is unchanged)
    but share it equally among the kinds present; benign accounts weigh 1. Without it a
    kind that runs 450 accounts (hydra) outweighs one that runs 3 (careful) 150 to 1."""
    weight = np.ones(len(y))
    attack = np.asarray(y) == 1
    present, counts = np.unique(kinds[attack], return_counts=True)
    for k, n in zip(present, counts, strict=True):
        weight[attack & (kinds == k)] = attack.sum() / (len(present) * n)
    return weight


# ---- evidence dropout -----------------------------------------------------------------------
# Evidence whose hand-set strength reads the same account field as another evidence's inputs
# (scoring.scorer.evidence_strengths: `established_account` is age >= 90 days, the field
# `new_account` ranks; strong and weak verification both read the verification level): a
# copy masks them together, so it never pairs one account's age rank with another's age flag.
SAME_FIELD = {"established_account": "new_account", "strong_verification": "weak_verification"}


def masking_units(names: list[str]) -> list[np.ndarray]:
    """The input positions a dropout copy replaces together: one unit per catalog evidence
    (:data:`SAME_FIELD` merged into the evidence it shares a field with)."""
    units: dict[str, list[int]] = {}
    for ev, idx in evidence_groups(names).items():
        units.setdefault(SAME_FIELD.get(ev, ev), []).extend(idx)
    return [np.array(sorted(idx), np.intp) for idx in units.values()]


def evidence_dropout(
    X: np.ndarray, y: np.ndarray, deployment: np.ndarray, names: list[str], seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of every campaign account, one per masking unit, with that unit's inputs taken
    from a benign account of the same deployment drawn at random: ``(X, y, source row)``.

    Why: a model learns to weigh only evidence that some training kind varies, and leans on
    each kind's loudest evidence; a kind it never saw may lack that one piece (a careful
    campaign shows no proxy rotation) while showing the rest. A copy whose one piece reads
    like an ordinary account of its deployment, still labelled attack, makes every other
    piece carry weight. The donor is a whole benign account (not the median), so the copy
    spans the benign range: e.g. a campaign may run aged accounts (bought, or patient), and
    the generator's campaigns never do; without copies the model learns that "older than 92%
    of the deployment" clears an account whatever else it does (BENCHMARKS.md §0, the age
    step). All inputs of a unit come from one donor, so its ranks stay consistent."""
    rng = np.random.default_rng(seed)
    units = masking_units(names)
    rows, copies = [], []
    for d in np.unique(deployment):
        attack = np.nonzero((deployment == d) & (y == 1))[0]
        benign = np.nonzero((deployment == d) & (y == 0))[0]
        if not len(attack) or not len(benign):
            continue
        for idx in units:
            donor = rng.choice(benign, len(attack))
            copy = X[attack].copy()
            copy[:, idx] = X[np.ix_(donor, idx)]
            rows.append(attack)
            copies.append(copy)
    if not copies:
        return np.zeros((0, X.shape[1])), np.zeros(0, int), np.zeros(0, np.intp)
    src = np.concatenate(rows)
    return np.vstack(copies), np.ones(len(src), int), src


def fit_risk_model(
    worlds: list[Path],
    findings: list[Path],
    out: Path,
    groups: list[str] | None = None,
    balance_kinds: bool = False,
    dropout: bool | None = None,
) -> Path:
    """Fit a :class:`RiskModel` on labelled worlds and save it as ``out`` (a manifest);
    ``balance_kinds``: weigh accounts so every campaign kind counts the same in each world;
    ``dropout``: also train the trees on :func:`evidence_dropout` copies of the campaign
    accounts, together weighing as much as those accounts (the copies are views of the same
    accounts, not new ones; default: :data:`TRAIN_RECIPE`); the calibration sees the real
    accounts only."""
    dropout = TRAIN_RECIPE["evidence_dropout"] if dropout is None else dropout
    names = input_names()
    X, y, g, dep, weight = _stack(_training_parts(worlds, findings, groups, balance_kinds))
    extra = None
    if dropout:
        cX, cy, src = evidence_dropout(X, y, dep, names)
        base = np.ones(len(y)) if weight is None else weight
        extra = (cX, cy, g[src], base[src] / len(masking_units(names)))
    model = RiskModel().fit(X, y, g, names, sample_weight=weight, extra=extra)
    recipe = {"version": TRAIN_RECIPE["version"], "balance_kinds": balance_kinds}
    recipe["evidence_dropout"] = dropout
    return model.save(out, {"worlds": [Path(w).name for w in worlds], "recipe": recipe})


def _fit_adapter(
    inputs: np.ndarray, labels: np.ndarray, risk: np.ndarray, prior: tuple[np.ndarray, float]
) -> tuple[np.ndarray, float]:
    """A logistic regression (coefficients, intercept) over ``inputs`` that starts from and is
    penalised towards ``prior`` (an L2 penalty on the change, one label's worth per unit).

    Labelled rows are hard targets. Unlabelled rows keep ``risk`` as a soft target and
    together weigh as much as the labels: the model as it stands counts as much evidence
    as the operator's labels, whatever the deployment's size."""
    from scipy.optimize import minimize

    lab = labels != -1
    target = np.where(lab, labels, risk).astype(float)
    n_lab, n_unl = int(lab.sum()), int((~lab).sum())
    weight = np.where(lab, 1.0, n_lab / max(n_unl, 1))
    base = np.r_[prior[0], prior[1]]
    design = np.column_stack([inputs, np.ones(len(inputs))])

    def loss(delta: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ (base + delta)
        # log(1 + e^z) - t·z: the cross-entropy with (soft) target t, computed stably.
        nll = weight @ (np.logaddexp(0.0, z) - target * z)
        grad = design.T @ (weight * (1.0 / (1.0 + np.exp(-z)) - target))
        return float(nll + 0.5 * delta @ delta), grad + delta

    fit = minimize(loss, np.zeros(len(base)), jac=True, method="L-BFGS-B")
    params = base + fit.x
    return params[:-1], float(params[-1])
