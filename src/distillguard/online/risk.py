"""Online account risk: the batch risk model on a batch of one.

The account's online state yields its features under the batch ``account_features`` names
(``state.account_features``); batch facts the state cannot know (sign-up time and route,
verification, payment sharing, cluster membership) come from the verdict cache. Its comparable
cohort (access route kind × client kind × volume, ``scoring.model.cohort_levels``) comes from
the route and user-agent counts the state keeps, by batch's rule
(``scoring.definitions.cohort_keys``), else from batch's keys for the account. The hand-set
evidence strengths are ``scoring.scorer.account_strengths`` on that one-row table, the model
inputs ``scoring.model.model_inputs`` on it, and the risk is the policy's
``scoring.risk_model`` (the learned model, evaluated with numpy, or the hand-set weights for
``none``). No formula here: a weight or a model changes batch and online alike.

Which deployment the percentiles are read against, in order:

1. the reference batch published with its results (``risk_reference``, loaded with them);
2. without one, a bounded reservoir of this process's own online accounts, once it holds
   ``MIN_RESERVOIR`` accounts (rebuilt as it fills);
3. otherwise none: there is no population to rank the account in, and the hand-set weights
   score it, as batch does for a deployment of fewer than ``MIN_POPULATION`` accounts (the
   model reads all-missing percentiles as a population it never saw).

Features an evidence unit fills with the deployment's median when an account has no data
(``accounts.units.MEDIAN``: the proxy-rotation shares of an account without an IP or with
one request) are NaN in the online state; they get the median of the reference they are
ranked against (:func:`median_columns`, :func:`fill_medians`), as batch fills them.

One evaluation costs about 1 ms (the numpy trees ~0.1 ms, the one-row evidence strengths and
percentiles most of the rest, the reasons ~0.5 ms when the risk is high enough to show them);
it is cached per account and recomputed after a material change (``_stale``: twice as many
requests as at the last evaluation, at most ``recompute_every`` requests later) and after a
results reload.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from ..evidence import Evidence
from ..scoring.catalog import BY_NAME, feature_columns, lowered_label
from ..scoring.compiled import CompiledRiskModel
from ..scoring.definitions import cohort_keys
from ..scoring.label_cap import LABELLED_ATTACK, RAISED_TO_REVIEW, raised_to_review
from ..scoring.model import (
    MIN_POPULATION,
    N_COHORTS,
    deployment_reference,
    evidence_groups,
    model_input_columns,
    resolve,
)
from ..scoring.reference import DeploymentReference
from ..scoring.scorer import AccountScorer, account_strengths
from .state import COHORT_FEATURES
from .verdicts import VerdictCache

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Accounts before the live reservoir is a deployment to rank against: as many as batch needs
# (scoring.model.MIN_POPULATION), so the one risk model reads the same deployment alike
# online. It was 200: a small deployment's online path then scored every account with the
# hand-set weights for days (tiny-105: ~0.02 for a ring harvesting under the job floor for
# 3.5 days, ~0.6 the hour the reservoir reached 200), where batch ranks from 20 accounts on.
MIN_RESERVOIR = MIN_POPULATION
RESERVOIR_SIZE = 5000
RESERVOIR_REBUILD = 500  # reservoir updates between two rebuilt references
REASONS_TOLERANCE = 0.02  # risk change below which an account's reasons are not recomputed
_STRING_FEATURES = ("signup_route", "verification", "route_kind", "client_kind")
COHORT_KEYS = ("route_kind", "client_kind")  # its comparable cohort (scoring.model.cohort_levels)


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """One account's risk and the evidence behind it, as of ``n_requests`` requests."""

    risk: float
    evidence: tuple[Evidence, ...]
    n_requests: float
    reference: str  # ranked against: batch, reservoir, none; or hand-set (no percentiles)
    contributions: Mapping[str, float] = field(default_factory=dict)  # log-odds, per evidence
    # What lowered the risk (source ``lowered:<evidence>``, weight the risk it took away).
    lowered: tuple[Evidence, ...] = ()


def account_row(
    features: Mapping[str, float], meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The one-row ``account_features`` of an account: online features plus batch facts.

    What the online state does not compute (payment sharing, and the cross-account evidence
    units: lockstep, sign-up bursts, shared parameters, pool coverage) is batch's value for an
    account batch saw, and missing for a new one."""
    columns = _feature_columns()
    row: dict[str, Any] = dict.fromkeys(columns, math.nan)
    row.update({k: float(v) for k, v in features.items() if isinstance(v, (int, float))})
    meta = meta or {}
    for k in _STRING_FEATURES:
        row[k] = None if meta.get(k) is None else str(meta[k])
    for k in columns if meta else ():  # an account batch never saw has no facts to add
        v = meta.get(k)
        if v is not None and isinstance(row[k], float) and math.isnan(row[k]):
            row[k] = float(v)
    # The cohort keys of the requests online counted, as batch's ACCOUNT_COHORT_KEYS would
    # give them; batch's own keys for an account online has no route or user agent for.
    counts = [float(features.get(f, 0.0)) for f in COHORT_FEATURES]
    for k, v in zip(COHORT_KEYS, cohort_keys(*counts), strict=True):
        if v is not None:
            row[k] = v
    created = meta.get("created_ms")
    first = features.get("first_ts")
    row["account_age_days"] = (
        (float(first) - float(created)) / DAY_MS
        if created is not None and first is not None
        else math.nan
    )
    return row


@cache
def _feature_columns() -> tuple[str, ...]:
    """``feature_columns`` (of the catalog, fixed at import), built once: two reads a row."""
    return feature_columns()


@cache
def median_columns() -> tuple[str, ...]:
    """The online features an evidence unit gives the deployment's median when an account has
    no data for them (``accounts.units.MEDIAN``)."""
    from ..accounts.units import DEFAULT_UNITS, MEDIAN, make_unit
    from .state import MemoryState

    online = MemoryState().observe("probe", {"ts_ms": 0, "account_id": "probe"})
    return tuple(
        c
        for name in DEFAULT_UNITS
        for c, fill in make_unit(name).output_columns().items()
        if fill == MEDIAN and c in online
    )


def reference_median(reference: DeploymentReference, column: str) -> float:
    """The deployment's median of an account feature, read from the reference's distribution
    (the first point with half the accounts at or below it; NaN when it has none). Batch's
    filled accounts all sit at the median of the others, so that point is the fill value."""
    dist = reference.data["features"].get(column, {}).get("all")
    if not dist or not dist["values"]:
        return math.nan
    i = bisect.bisect_left(dist["upto"], 0.5)
    return float(dist["values"][min(i, len(dist["values"]) - 1)])


def fill_medians(table: dict[str, np.ndarray], reference: DeploymentReference) -> None:
    """Give the :func:`median_columns` an account has no data for the reference's median."""
    for c in median_columns():
        x = table.get(c)
        if x is not None and np.isnan(x).any():
            table[c] = np.where(np.isnan(x), reference_median(reference, c), x)


def as_columns(rows: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Account rows → one array per feature (what ``account_strengths`` and
    ``model_input_columns`` read; a one-row Arrow table would cost more than the scoring)."""
    keys = dict.fromkeys(k for r in rows for k in r)
    return {
        k: np.array([r.get(k) for r in rows], dtype=object)
        if k in _STRING_FEATURES
        else np.array([r.get(k, math.nan) for r in rows], dtype=float)
        for k in keys
    }


def pivot_flags(row: Mapping[str, Any], reference: DeploymentReference | None) -> dict[str, bool]:
    """Whether a request falls in the release window of batch's newly released model, and
    whether it uses that model (the state counts them as ``ACCOUNT_PIVOT`` does)."""
    pivot = reference.pivot if reference is not None else None
    if not pivot:
        return {"pivot_window": False, "pivot_new": False, "new_model": False}
    new = row.get("model") == pivot["model"]
    start = int(pivot["release_ms"])
    in_window = start <= int(row["ts_ms"]) < start + int(pivot["window_ms"])
    return {"pivot_window": in_window, "pivot_new": in_window and new, "new_model": new}


class Reservoir:
    """A bounded uniform sample of online accounts' latest feature rows (reservoir sampling
    over accounts); the deployment to rank against when batch published none. Rows are kept
    as float arrays in one column order (~1 kB an account)."""

    def __init__(self, size: int = RESERVOIR_SIZE, seed: int = 0) -> None:
        self.size = size
        self.keys: tuple[str, ...] = ()
        self.rows: dict[str, tuple[np.ndarray, tuple, float, float, float]] = {}
        self.seen = 0
        self.updates = 0
        self._rng = random.Random(seed)

    def offer(
        self, account_id: str, row: Mapping[str, Any], size: float, coord: float, affinity: float
    ) -> None:
        if account_id not in self.rows:
            self.seen += 1
            if len(self.rows) >= self.size:
                if self._rng.randrange(self.seen) >= self.size:
                    return
                del self.rows[self._rng.choice(list(self.rows))]
        if not self.keys:
            self.keys = tuple(k for k in row if k not in _STRING_FEATURES)
        values = np.array([row.get(k, math.nan) for k in self.keys], float)
        strings = tuple(row.get(k) for k in _STRING_FEATURES)
        self.rows[account_id] = (values, strings, size, coord, affinity)
        self.updates += 1

    def reference(self, signal_weights: Mapping[str, float]) -> DeploymentReference:
        """The batch reference of these accounts: ``model_inputs`` ranks them among themselves."""
        kept = list(self.rows.values())
        values = np.vstack([r[0] for r in kept])
        table: dict[str, np.ndarray] = {k: values[:, j] for j, k in enumerate(self.keys)}
        for j, k in enumerate(_STRING_FEATURES):
            table[k] = np.array([r[1][j] for r in kept], dtype=object)
        size, coord, aff = (np.array([r[i] for r in kept], float) for i in (2, 3, 4))
        strengths = account_strengths(table, dict(signal_weights), coord, aff)
        inputs = model_input_columns(table, strengths, size)
        return deployment_reference(table, size, inputs)


class OnlineRisk:
    """The policy's risk model for one account at a time (see the module docstring).

    Parameters
    ----------
    scoring : the policy's ``scoring`` section (risk_model, thresholds, weights).
    recompute_every : most requests of an account between two evaluations (fewer while it is
        young, see ``_stale``).
    """

    def __init__(self, scoring: Any, recompute_every: int = 8) -> None:
        self.scoring = scoring
        self.recompute_every = recompute_every
        model = resolve(scoring.risk_model)
        self.model = None if model is None else CompiledRiskModel(model)
        self.groups = {} if model is None else evidence_groups(self.model.names)
        # The percentile inputs (``pct:``/``coh:``/``rcv:``): unknown ones are taken as typical
        # when ranked against the live reservoir (see ``evaluate``).
        self._ranked = (
            np.zeros(0, bool)
            if model is None
            else np.array([n.startswith(("pct:", "coh:", "rcv:")) for n in self.model.names])
        )
        self.reservoir = Reservoir()
        self._reservoir_ref: DeploymentReference | None = None
        self._reservoir_at = 0
        self._cache: OrderedDict[str, AccountRisk] = OrderedDict()
        self.max_cached = 200_000
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop cached risks (new batch results: a new reference and new cluster facts)."""
        with self._lock:
            self._cache.clear()

    # ---- the reference ----------------------------------------------------------------------
    def reference(self, cache: VerdictCache) -> tuple[DeploymentReference, str]:
        if cache.reference is not None:
            return cache.reference, "batch"
        res = self.reservoir
        if len(res.rows) < MIN_RESERVOIR:
            return DeploymentReference.empty(N_COHORTS), "none"
        if self._reservoir_ref is None or res.updates - self._reservoir_at >= RESERVOIR_REBUILD:
            self._reservoir_ref = res.reference(self.scoring.signal_weights)
            self._reservoir_at = res.updates
        return self._reservoir_ref, "reservoir"

    # ---- scoring ----------------------------------------------------------------------------
    def assess_many(
        self, items: list[tuple[str, Mapping[str, float]]], cache: VerdictCache
    ) -> list[AccountRisk]:
        """Each account's risk after its request (cached between material changes), for each
        ``(account, features)`` in order, with one numpy pass for the evaluations: the results,
        the cache and the reservoir are as if each item had been assessed alone, one after the
        other (an item sees the evaluations and reservoir offers of the items before it, never
        of those after it)."""
        plan: list[tuple[str, int]] = []  # ("hit", -1): the cache; ("eval"|"pending", j)
        evals: list[tuple[str, Mapping[str, float], AccountRisk | int | None]] = []
        pending: dict[str, tuple[int, float]] = {}  # account → (its latest eval, its n)
        with self._lock:
            for acct, feats in items:
                n = float(feats.get("n_requests", 0.0))
                last: AccountRisk | int | None = self._cache.get(acct)
                last_n = last.n_requests if isinstance(last, AccountRisk) else None
                if acct in pending:
                    last, last_n = pending[acct]
                if last_n is not None and not self._stale(last_n, n):
                    plan.append(("pending", last) if isinstance(last, int) else ("hit", -1))
                    continue
                pending[acct] = (len(evals), n)
                plan.append(("eval", len(evals)))
                evals.append((acct, feats, last))
        got = self._evaluate_many(evals, cache)
        out: list[AccountRisk] = []
        with self._lock:
            for (acct, _), (what, j) in zip(items, plan, strict=True):
                if what == "hit":
                    self._cache.move_to_end(acct)
                    out.append(self._cache[acct])
                    continue
                out.append(got[j])
                if what == "pending":
                    self._cache.move_to_end(acct)
                    continue
                self._cache[acct] = got[j]
                self._cache.move_to_end(acct)
                if len(self._cache) > self.max_cached:
                    self._cache.popitem(last=False)
        return out

    def _stale(self, last_n: float, n: float) -> bool:
        """A material change since an evaluation at ``last_n`` requests: ``recompute_every``
        more, or, while the account is young, twice as many (1, 2, 4, 8, then every k)."""
        since = n - last_n
        return since >= min(self.recompute_every, max(1.0, last_n)) or since < 0

    def _context(self, account_id: str, features: Mapping[str, float], cache: VerdictCache
                 ) -> tuple[dict[str, Any], float, float, float]:
        """The one-row features and the cluster facts batch knows of the account."""
        meta = cache.meta.get(account_id)
        row = account_row(features, meta)
        pivot = cache.reference.pivot if cache.reference is not None else None
        first_new = float(features.get("pivot_first_new_ts", math.nan))
        row["pivot_delay_hours"] = (
            (first_new - pivot["release_ms"]) / HOUR_MS if pivot else math.nan
        )
        av = cache.account(account_id)
        cv = cache.cluster(av.cluster_id if av else None)
        size = float(cv.n_accounts) if cv else 0.0
        strength = (meta or {}).get("cluster_strength")
        saturation = float(self.scoring.coordination_saturation)
        bound = 1.0 if strength is None else min(max(float(strength) / saturation, 0.0), 1.0)
        coord = cv.risk * bound if cv else 0.0
        in_attack = cv is not None and cv.risk >= self.scoring.attack_threshold
        n = max(float(features.get("n_requests", 0.0)), 0.0)
        share = float(features.get("campaign_template_share", 0.0))
        affinity = 0.0 if in_attack else min(share, 1.0) * n / (n + 2.0)  # as batch's
        return row, size, coord, affinity

    def evaluate(
        self,
        account_id: str,
        features: Mapping[str, float],
        cache: VerdictCache,
        previous: AccountRisk | None = None,
    ) -> AccountRisk:
        """The account's risk from ``features`` now. The reasons of ``previous`` (the last
        evaluation) are kept while the risk moved less than ``REASONS_TOLERANCE``: they cost
        more than the risk itself."""
        return self._evaluate_many([(account_id, features, previous)], cache)[0]

    def _score_one(
        self,
        features: Mapping[str, float],
        context: tuple[dict[str, Any], float, float, float],
    ) -> AccountRisk:
        """The hand-set weights' risk (no population to rank the account in)."""
        row, _, coord, affinity = context
        table = as_columns([row])
        weights = dict(self.scoring.signal_weights)
        strengths = account_strengths(table, weights, np.array([coord]), np.array([affinity]))
        risk, contrib = self._hand_set(strengths)
        n = float(features.get("n_requests", 0.0))
        return AccountRisk(
            risk, _evidence(contrib, risk), n, "hand-set", contrib, _lowered(contrib, risk)
        )

    def _evaluate_many(
        self,
        evals: list[tuple[str, Mapping[str, float], AccountRisk | int | None]],
        cache: VerdictCache,
    ) -> list[AccountRisk]:
        """:meth:`evaluate` of each item in order; ``previous`` may be an earlier item's index.
        The reservoir is offered each row and read (maybe rebuilt) in order, as one at a time;
        rows ranked against the same reference are then scored in one pass."""
        contexts, refs = [], []
        for acct, feats, _ in evals:
            ctx = self._context(acct, feats, cache)
            contexts.append(ctx)
            kind, reference = "none", None
            if self.model is not None:
                with self._lock:
                    if cache.reference is None:
                        self.reservoir.offer(acct, ctx[0], *ctx[1:])
                    reference, kind = self.reference(cache)
            refs.append((reference, kind))
        scored: list[tuple[float, np.ndarray | None, DeploymentReference | None]] = [
            (math.nan, None, None)
        ] * len(evals)
        groups: dict[int, list[int]] = {}
        by_labels: dict[int, Evidence] = {}  # what the operator's labels did (batch's reason)
        for j, (reference, kind) in enumerate(refs):
            if kind != "none":
                groups.setdefault(id(reference), []).append(j)
        for idx in groups.values():
            reference, kind = refs[idx[0]]
            X = self._inputs([contexts[j] for j in idx], reference, kind)  # type: ignore[arg-type]
            # The risk batch's verdict reads: an adapted model under the review cap.
            line = self.scoring.attack_threshold
            risk, adapted, _ = self.model.verdict_risk(  # type: ignore[union-attr]
                X, line, [evals[j][0] for j in idx]
            )
            for r, j in enumerate(idx):
                scored[j] = (float(risk[r]), X[r : r + 1], reference)
                acct = evals[j][0]
                said = _label_reason(acct, float(risk[r]), float(adapted[r]), line, self.model)
                if said:
                    by_labels[j] = said
        # Which rows keep their previous reasons follows from the risks alone, so the fresh
        # reasons are computed in one pass per reference too.
        hand = {
            j: self._score_one(evals[j][1], contexts[j])
            for j, (_, kind) in enumerate(refs)
            if kind == "none"
        }
        risks = [hand[j].risk if j in hand else scored[j][0] for j in range(len(evals))]
        modes = [
            "hand" if j in hand else self._reasons_mode(risks[j], prev, risks)
            for j, (_, _, prev) in enumerate(evals)
        ]
        fresh: dict[int, list[int]] = {}
        for j, mode in enumerate(modes):
            if mode == "fresh":
                fresh.setdefault(id(scored[j][2]), []).append(j)
        contribs: dict[int, dict[str, float]] = {}
        for idx in fresh.values():
            X = np.vstack([scored[j][1] for j in idx])  # type: ignore[misc]
            contribs.update(zip(idx, self._contributions(X, scored[idx[0]][2]), strict=True))  # type: ignore[arg-type]
        out: list[AccountRisk] = []
        for j, (_, feats, prev) in enumerate(evals):
            if j in hand:
                out.append(hand[j])
                continue
            previous = out[prev] if isinstance(prev, int) else prev
            contrib: Mapping[str, float] = (
                previous.contributions if modes[j] == "keep" else contribs.get(j, {})  # type: ignore[union-attr]
            )
            n = float(feats.get("n_requests", 0.0))
            evidence = _evidence(contrib, risks[j])
            out.append(
                AccountRisk(
                    risks[j],
                    (by_labels[j], *evidence) if j in by_labels else evidence,
                    n,
                    refs[j][1],
                    contrib,
                    _lowered(contrib, risks[j]),
                )
            )
        return out

    def _reasons_mode(
        self, risk: float, prev: AccountRisk | int | None, risks: list[float]
    ) -> str:
        """``keep`` the previous evaluation's reasons while the risk moved less than
        ``REASONS_TOLERANCE`` on the same side of where a reviewer looks; else ``fresh`` ones
        where the risk is shown, ``none`` below it."""
        shown = 0.5 * self.scoring.review_threshold  # reasons only where a reviewer looks
        if prev is not None:
            before = risks[prev] if isinstance(prev, int) else prev.risk
            if (before >= shown) == (risk >= shown) and abs(before - risk) < REASONS_TOLERANCE:
                return "keep"
        return "fresh" if risk >= shown else "none"

    def _inputs(
        self,
        contexts: list[tuple[dict[str, Any], float, float, float]],
        reference: DeploymentReference,
        kind: str,
    ) -> np.ndarray:
        """The model's input matrix of several accounts' rows against one reference: what
        :meth:`evaluate` builds for each alone (every step is row by row)."""
        table = as_columns([c[0] for c in contexts])
        coord, affinity, size = (np.array([c[i] for c in contexts], float) for i in (2, 3, 1))
        strengths = account_strengths(table, dict(self.scoring.signal_weights), coord, affinity)
        fill_medians(table, reference)
        inputs = model_input_columns(table, strengths, size, reference)
        nan = np.full(len(contexts), np.nan)
        X = np.column_stack([inputs.get(name, nan) for name in self.model.names])  # type: ignore[union-attr]
        if kind == "reservoir":  # see evaluate
            X[np.isnan(X) & self._ranked] = 0.5
        return X

    def _hand_set(self, strengths: dict[str, np.ndarray]) -> tuple[float, dict[str, float]]:
        sc = AccountScorer(
            bias=self.scoring.account_bias,
            weights=dict(self.scoring.account_weights),
            review_threshold=self.scoring.review_threshold,
            attack_threshold=self.scoring.attack_threshold,
        ).fit(strengths)
        return float(sc.risk_[0]), {k: float(v[0]) for k, v in sc.contributions_.items()}

    def _contributions(
        self, X: np.ndarray, reference: DeploymentReference
    ) -> list[dict[str, float]]:
        """Per row of ``X`` and per evidence, the log-odds of risk lost when its inputs are
        set to the deployment's median (as ``RiskModel.contributions(signed=True)``: negative
        where the evidence lowered the risk), in one evaluation of every row's variants."""
        names = self.model.names
        median = reference.medians(names)
        groups = self.groups
        idx = [np.asarray(i, np.intp) for i in groups.values()]
        drop = self.model.drops(X, idx, median)  # batch's contributions function
        return [{ev: float(d) for ev, d in zip(groups, row, strict=True)} for row in drop]


MAX_LOWERED = 3  # reasons that lowered the risk, as many as batch shows (scoring max_reasons)
LOWERED = "lowered:"  # their evidence source prefix, as batch's (scoring.analyze)


def _lowered(contrib: Mapping[str, float], risk: float) -> tuple[Evidence, ...]:
    """The evidence that lowered the risk (by more than 0.05 log-odds), strongest first,
    worded with the catalog's ``lowered`` labels and signed: ``- older account than most
    (-1.37 log-odds)``; the weight is the risk it took away, as batch's ``lowered:`` rows."""
    neg = sorted((v, k) for k, v in contrib.items() if v < -0.05 and k in BY_NAME)
    z = math.log(min(max(risk, 1e-9), 1 - 1e-9) / (1 - min(max(risk, 1e-9), 1 - 1e-9)))
    return tuple(
        Evidence(
            f"{LOWERED}{k}",
            round(1.0 / (1.0 + math.exp(v - z)) - risk, 4),
            f"- {lowered_label(k)} ({v:+.2f} log-odds)",
        )
        for v, k in neg[:MAX_LOWERED]
    )


def _label_reason(
    account: str, risk: float, adapted: float, line: float, model: CompiledRiskModel
) -> Evidence | None:
    """Batch's ``operator_labels`` reason: held at review by the cap, or attack by label."""
    if account in model.labelled_attack:
        return Evidence("online:operator_labels", 0.0, LABELLED_ATTACK)
    if raised_to_review(np.float64(risk), np.float64(adapted), line):
        return Evidence("online:operator_labels", 0.0, RAISED_TO_REVIEW)
    return None


def _evidence(contrib: Mapping[str, float], risk: float) -> tuple[Evidence, ...]:
    """The evidence that raised the risk (by more than 0.05 log-odds, batch's reason
    threshold), worded with the catalog's labels."""
    pos = {k: v for k, v in contrib.items() if v > 0.05 and k in BY_NAME}
    total = sum(pos.values()) or 1.0
    return tuple(
        Evidence(f"online:{k}", round(risk * v / total, 4), BY_NAME[k].label)
        for k, v in sorted(pos.items(), key=lambda kv: -kv[1])
    )
