"""Risk from evidence: logistic combination of evidence strengths, for clusters and accounts.

Every piece of evidence has a *strength* ``s`` in [0, 1] (e.g. the share of an account's
requests that carry harvest signals) and a policy *weight* ``w``: the log-odds it adds at full
strength. ``risk = sigmoid(bias + sum(w * s))``. This is a calibrated-by-construction scale: with
the default bias of -5 an account with no evidence has risk 0.007, and each weight reads as
"how many times the odds multiply (e^w)". Risks are comparable across accounts because every
account is scored by the same formula over the same evidence.

Why a logistic sum and not a noisy-OR: hard-benign customers each show one or two attack-like
traits (step-by-step prompts, cloud IPs, fixed templates, shared campus networks); a noisy-OR
saturates on any one strong trait, while a sum in log-odds needs several independent kinds of
evidence (content + coordination + sign-up + infrastructure) before it reaches the attack
threshold, and lets strong verification count *against* risk.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..accounts._base import Estimator, check_range
from ..coordination.cluster import member_edges
from ..errors import InvalidParameterError
from .policy import ACCOUNT_EVIDENCE, CLUSTER_EVIDENCE, SIGNALS, ScoringPolicy

_DEFAULTS = ScoringPolicy()
VERIFICATION_WEAKNESS = {"none": 1.0, "email": 0.5, "phone": 0.2}
STRONG_VERIFICATION = ("id", "business")
SYNC_KINDS = ("template_window", "pivot", "payment")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


# Account features: an Arrow table (batch), or one array per column (one account, online:
# building a one-row Arrow table costs more than scoring it).
Columns = pa.Table | Mapping[str, np.ndarray]


def n_rows(t: Columns) -> int:
    return t.num_rows if isinstance(t, pa.Table) else len(next(iter(t.values()), ()))


def has_column(t: Columns, name: str) -> bool:
    return name in (t.column_names if isinstance(t, pa.Table) else t)


def col(t: Columns, name: str, fill: float = 0.0) -> np.ndarray:
    """A numeric column as float numpy, NULL → ``fill``."""
    if not has_column(t, name):
        return np.full(n_rows(t), fill)
    raw = t.column(name).to_numpy(zero_copy_only=False) if isinstance(t, pa.Table) else t[name]
    x = np.array(raw, dtype=float)
    # nan_to_num only when needed: it costs ~10 µs a call, most of one account's scoring.
    return x if np.isfinite(x).all() else np.nan_to_num(x, nan=fill, copy=False)


def scol(t: Columns, name: str) -> np.ndarray:
    if not has_column(t, name):
        return np.full(n_rows(t), "", dtype=object)
    if isinstance(t, pa.Table):
        return np.asarray(pc.fill_null(t.column(name), "").to_pylist(), dtype=object)
    return np.array(["" if v is None else v for v in t[name]], dtype=object)


def content_strength(features: Columns, signal_weights: dict[str, float]) -> np.ndarray:
    """Noisy-OR over signal kinds of ``weight * share``, shrunk for small accounts (n/(n+2))."""
    keep = np.ones(n_rows(features))
    for sig in SIGNALS:
        keep *= 1.0 - float(signal_weights.get(sig, 0.0)) * col(features, f"{sig}_share")
    n = col(features, "n_requests")
    return (1.0 - keep) * n / (n + 2.0)


def account_strengths(
    features: Columns,
    signal_weights: dict[str, float],
    cluster_risk: np.ndarray | None = None,
    template_affinity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Strength in [0, 1] of every account evidence (``policy.ACCOUNT_EVIDENCE``), per account.

    ``cluster_risk`` and ``template_affinity`` come from the clusters (see ``analyze``); before
    clusters are scored they are zero."""
    n = col(features, "n_requests")
    content = content_strength(features, signal_weights)
    kinds = sum(
        (col(features, f"{s}_share") >= 0.1) & (signal_weights.get(s, 0.0) >= 0.8) for s in SIGNALS
    )
    verification = scol(features, "verification")
    age = col(features, "account_age_days", fill=np.nan)
    has_age = ~np.isnan(age)
    pivot_ok = (col(features, "pivot_delay_hours", fill=np.inf) <= 24.0) & (
        col(features, "pivot_window_requests") >= 2
    )
    s = {
        "harvest_content": content,
        "harvest_variety": np.clip((kinds - 1) / 2.0, 0, 1),
        "coordinated_cluster": np.zeros(len(n)) if cluster_risk is None else cluster_risk,
        "anonymised_ips": np.clip(
            col(features, "vpn_share") + col(features, "tor_share") + col(features, "proxy_share"),
            0,
            1,
        ),
        "datacenter_ips": col(features, "datacenter_share"),
        # Rotating residential proxies change network (ASN), not just address, on most requests;
        # a phone on one carrier changes address but stays in one ASN.
        # (ASNs - 1) / requests: the first network is free, so a short account is not penalised.
        "ip_rotation": np.where(
            n >= 3,
            np.clip(((col(features, "n_asns") - 1) / np.maximum(n, 1) - 0.3) / 0.4, 0, 1),
            0.0,
        ),
        # A card paying for several unrelated owners (3 owners: 0.17, 8 or more: 1).
        "payment_ring": np.clip((col(features, "card_owners") - 2.0) / 6.0, 0, 1),
        "weak_verification": np.array([VERIFICATION_WEAKNESS.get(v, 0.0) for v in verification]),
        "new_account": np.where(has_age, np.clip(1.0 - np.nan_to_num(age) / 30.0, 0, 1), 0.0),
        "strong_verification": np.isin(verification, STRONG_VERIFICATION).astype(float),
        "established_account": (has_age & (np.nan_to_num(age) >= 90)).astype(float),
        "machine_timing": np.where(
            n >= 20, np.clip(1.0 - col(features, "cv_gaps", 1.0), 0, 1), 0.0
        ),
        "model_pivot": np.where(pivot_ok, col(features, "pivot_share"), 0.0),
        "template_concentration": np.where(n >= 10, col(features, "tpl_top_share") * content, 0.0),
        "attack_template_affinity": np.zeros(len(n))
        if template_affinity is None
        else np.clip(np.asarray(template_affinity, float), 0, 1),
    }
    return s


def _merged(defaults: dict, given: dict | None, names: tuple[str, ...], owner: str) -> dict:
    out = dict(defaults)
    for k, v in (given or {}).items():
        if k not in names:
            raise InvalidParameterError(f"{owner}: unknown evidence {k!r}; allowed: {list(names)}")
        out[k] = float(v)
    return out


class ClusterScorer(Estimator):
    """Risk of each coordinated cluster from its members' evidence.

    Parameters
    ----------
    bias, weights : logistic bias and per-evidence log-odds (``policy.CLUSTER_EVIDENCE``).
    size_saturation : cluster size at which the size evidence is full.

    Attributes
    ----------
    clusters_ : pa.Table (cluster_id, n_accounts, risk, one column per evidence strength).
    """

    def __init__(
        self, bias: float = -4.0, weights: dict | None = None, size_saturation: int = 20
    ) -> None:
        self.bias = bias
        self.weights = weights
        self.size_saturation = size_saturation

    def fit(
        self,
        members: pa.Table,
        account_ids: pa.Array | pa.ChunkedArray,
        strengths: dict[str, np.ndarray],
        edges: pa.Table,
    ) -> ClusterScorer:
        """``members``: account_id, cluster_id; ``strengths`` aligned with ``account_ids``."""
        check_range(self, "size_saturation", self.size_saturation, 2, None)
        weights = _merged(
            _DEFAULTS.cluster_weights, self.weights, CLUSTER_EVIDENCE, "ClusterScorer.weights"
        )
        pos = pc.index_in(
            members.column("account_id"), value_set=pa.array(account_ids, pa.string())
        )
        pos = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=float)
        ok = ~np.isnan(pos)
        pos = pos[ok].astype(np.int64)
        cids = np.asarray(members.column("cluster_id").to_pylist(), dtype=object)[ok]
        uniq, inv = (
            np.unique(cids.astype(str), return_inverse=True)
            if len(cids)
            else (np.array([], str), np.array([], np.int64))
        )
        size = np.bincount(inv, minlength=len(uniq)).astype(float)

        def mean(name: str) -> np.ndarray:
            return np.bincount(inv, weights=strengths[name][pos], minlength=len(uniq)) / np.maximum(
                size, 1
            )

        # Synchrony: the share of members' coordination weight on same-window / pivot / payment keys.
        sync = np.zeros(len(uniq))
        if edges.num_rows and len(uniq):
            # Members' edges by integer position, in edge order (a join with the members
            # copied ~3M edges' strings on `large`, and summed in an order that changed).
            rows, member, _, _ = member_edges(edges, members)
            code = np.searchsorted(
                uniq, np.asarray(members.column("cluster_id").to_pylist(), dtype=str)
            )
            jc = code[member]
            jw = np.asarray(edges.column("weight").to_numpy(zero_copy_only=False), float)[rows]
            is_sync = pc.is_in(edges.column("key_kind"), value_set=pa.array(SYNC_KINDS))
            is_sync = np.asarray(is_sync.to_numpy(zero_copy_only=False), bool)[rows]
            total = np.bincount(jc, weights=jw, minlength=len(uniq))
            synced = np.bincount(jc, weights=jw * is_sync, minlength=len(uniq))
            sync = np.divide(synced, total, out=np.zeros(len(uniq)), where=total > 0)
        strength = {
            "harvest_content": mean("harvest_content"),
            "size": np.clip(np.log(np.maximum(size, 1)) / np.log(self.size_saturation), 0, 1),
            "weak_verification": mean("weak_verification"),
            "new_accounts": mean("new_account"),
            "anonymised_ips": mean("anonymised_ips"),
            "synchrony": sync,
            "payment_ring": mean("payment_ring"),
            "ip_rotation": mean("ip_rotation"),
        }
        z = self.bias + sum(weights[k] * strength[k] for k in CLUSTER_EVIDENCE)
        cols = {
            "cluster_id": pa.array(uniq.tolist(), pa.string()),
            "n_accounts": pa.array(size.astype(np.int64)),
            "risk": pa.array(sigmoid(z)),
        }
        cols.update({f"s_{k}": pa.array(v) for k, v in strength.items()})
        self.weights_ = weights
        self.clusters_ = pa.table(cols)
        return self


class AccountScorer(Estimator):
    """Risk and verdict of every account.

    Parameters
    ----------
    bias, weights : logistic bias and per-evidence log-odds (``policy.ACCOUNT_EVIDENCE``).
    review_threshold, attack_threshold : risk cut-offs of the verdicts.

    Attributes
    ----------
    risk_ : np.ndarray, verdict_ : np.ndarray of str, contributions_ : dict evidence → w * s.
    """

    def __init__(
        self,
        bias: float = -5.0,
        weights: dict | None = None,
        review_threshold: float = 0.5,
        attack_threshold: float = 0.9,
    ) -> None:
        self.bias = bias
        self.weights = weights
        self.review_threshold = review_threshold
        self.attack_threshold = attack_threshold

    def fit(self, strengths: dict[str, np.ndarray]) -> AccountScorer:
        """Combine the evidence strengths (one array per ``ACCOUNT_EVIDENCE`` name)."""
        check_range(self, "review_threshold", self.review_threshold, 0.0, 1.0)
        check_range(self, "attack_threshold", self.attack_threshold, 0.0, 1.0)
        if self.review_threshold > self.attack_threshold:
            raise InvalidParameterError(
                "AccountScorer.review_threshold must not exceed attack_threshold"
            )
        weights = _merged(
            _DEFAULTS.account_weights, self.weights, ACCOUNT_EVIDENCE, "AccountScorer.weights"
        )
        missing = [k for k in ACCOUNT_EVIDENCE if k not in strengths]
        if missing:
            raise InvalidParameterError(f"AccountScorer.fit: missing evidence strengths {missing}")
        self.contributions_ = {
            k: weights[k] * np.asarray(strengths[k], float) for k in ACCOUNT_EVIDENCE
        }
        z = self.bias + sum(self.contributions_.values())
        self.risk_ = sigmoid(z)
        self.verdict_ = self.verdicts(self.risk_)
        self.weights_ = weights
        return self

    def verdicts(self, risk: np.ndarray) -> np.ndarray:
        """benign / review / attack for each risk."""
        return verdicts(risk, self.review_threshold, self.attack_threshold)


def verdicts(risk: np.ndarray, review_threshold: float, attack_threshold: float) -> np.ndarray:
    """benign / review / attack for each risk: one rule for every risk model."""
    return np.where(
        risk >= attack_threshold,
        "attack",
        np.where(risk >= review_threshold, "review", "benign"),
    ).astype(object)
