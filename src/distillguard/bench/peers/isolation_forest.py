"""IsolationForest (Liu, Ting & Zhou 2008) on per-account aggregates.

The unsupervised anomaly baseline a provider would try first. Aggregates are computed in one
DuckDB pass (plus a per-account hour-of-day histogram); the forest is fit on all accounts
(no labels). ``risk`` is the forest's anomaly score ``s = 2^(-E[h]/c(n))`` (``-score_samples``),
which lies in (0, 1]. Verdict: the top ``contamination`` share of scores is ``attack``, the
top ``review_share`` is ``review``. ``reasons`` names the features that stand out most
(robust z-score against the population).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.ensemble import IsolationForest

from ..logs import open_requests
from .base import Peer, accounts_table

FEATURES: tuple[str, ...] = (
    "log_requests",
    "log_req_per_active_hour",
    "active_days",
    "log_distinct_ips",
    "log_distinct_prefixes",
    "log_distinct_uas",
    "log_distinct_keys",
    "distinct_prompt_share",
    "log_mean_prompt_chars",
    "multi_turn_share",
    "system_share",
    "tools_share",
    "reasoning_share",
    "out_in_ratio",
    "log_mean_max_tokens",
    "hour_entropy",
    "interarrival_cv",
    "log_median_gap_s",
)


# One row per request with the columns the features read.
_REQUEST_COLUMNS_SQL = """
    CREATE TEMP TABLE r AS
    SELECT account_id, ts_ms, ip, ip_prefix, user_agent, api_key_id,
           hash(prompt_text) AS ph, length(prompt_text) AS plen,
           n_user_turns, system_text IS NOT NULL AS has_sys, n_tools,
           reasoning, input_tokens, output_tokens, max_tokens
    FROM requests
    """

# Per-account features: timing (gaps, hour entropy), spread (IPs, prefixes, agents, keys),
# prompt shape and request parameters.
_ACCOUNT_FEATURES_SQL = """
    WITH g AS (
      SELECT account_id,
        (ts_ms - lag(ts_ms) OVER (PARTITION BY account_id ORDER BY ts_ms)) / 1000.0
          AS gap
      FROM r
    ),
    gs AS (
      SELECT account_id,
        coalesce(stddev_samp(gap) / nullif(avg(gap), 0), 0) AS interarrival_cv,
        coalesce(median(gap), 0) AS median_gap
      FROM g GROUP BY account_id
    ),
    hh AS (
      SELECT account_id, ((ts_ms // 3600000) % 24) AS hod, count(*) AS n
      FROM r GROUP BY ALL
    ),
    he AS (
      SELECT account_id,
        -sum((n / tot) * ln(n / tot)) AS hour_entropy
      FROM (SELECT *, sum(n) OVER (PARTITION BY account_id) AS tot FROM hh)
      GROUP BY account_id
    ),
    a AS (
      SELECT account_id,
        count(*) AS n,
        count(DISTINCT ts_ms // 3600000) AS active_hours,
        count(DISTINCT ts_ms // 86400000) AS active_days,
        count(DISTINCT ip) AS ips,
        count(DISTINCT ip_prefix) AS prefixes,
        count(DISTINCT user_agent) AS uas,
        count(DISTINCT api_key_id) AS keys,
        count(DISTINCT ph) / count(*) AS distinct_prompt_share,
        avg(plen) AS mean_chars,
        avg((n_user_turns > 1)::INT) AS multi_turn_share,
        avg(has_sys::INT) AS system_share,
        avg((n_tools > 0)::INT) AS tools_share,
        avg((reasoning IS NOT NULL)::INT) AS reasoning_share,
        coalesce(sum(output_tokens) / nullif(sum(input_tokens), 0), 0)
          AS out_in_ratio,
        coalesce(avg(max_tokens), 0) AS mean_max_tokens
      FROM r GROUP BY account_id
    )
    SELECT a.account_id,
      ln(1 + n) AS log_requests,
      ln(1 + n / active_hours) AS log_req_per_active_hour,
      active_days::DOUBLE AS active_days,
      ln(1 + ips) AS log_distinct_ips,
      ln(1 + prefixes) AS log_distinct_prefixes,
      ln(1 + uas) AS log_distinct_uas,
      ln(1 + keys) AS log_distinct_keys,
      distinct_prompt_share,
      ln(1 + coalesce(mean_chars, 0)) AS log_mean_prompt_chars,
      multi_turn_share, system_share, tools_share, reasoning_share,
      out_in_ratio,
      ln(1 + mean_max_tokens) AS log_mean_max_tokens,
      hour_entropy, interarrival_cv,
      ln(1 + median_gap) AS log_median_gap_s
    FROM a JOIN he USING (account_id) JOIN gs USING (account_id)
    ORDER BY a.account_id
    """


class IsolationForestPeer(Peer):
    """IsolationForest over per-account behaviour aggregates.

    Parameters
    ----------
    n_estimators : trees in the forest.
    contamination : share of accounts given verdict ``attack``.
    review_share : share of accounts given ``review`` or ``attack``.
    random_state : seed of the forest.
    """

    name = "isolation_forest"
    reference = "Liu, Ting & Zhou 2008, Isolation Forest (scikit-learn)"

    def __init__(
        self,
        n_estimators: int = 200,
        contamination: float = 0.01,
        review_share: float = 0.05,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.contamination = contamination
        self.review_share = review_share
        self.random_state = random_state

    @staticmethod
    def aggregates(logs: list[Path]) -> dict[str, np.ndarray]:
        """Per-account feature columns (``account_id`` plus :data:`FEATURES`)."""
        con = open_requests(logs)
        try:
            con.execute(_REQUEST_COLUMNS_SQL)
            return con.execute(_ACCOUNT_FEATURES_SQL).fetchnumpy()
        finally:
            con.close()

    def detect(self, logs: list[Path], accounts: Path | None = None) -> pa.Table:
        agg = self.aggregates(logs)
        ids = agg["account_id"]
        x = np.column_stack([np.asarray(agg[f], dtype=float) for f in FEATURES])
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        if len(ids) < 2:
            return accounts_table(ids, np.zeros(len(ids)), ["benign"] * len(ids))
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(256, len(ids)),
            random_state=self.random_state,
        ).fit(x)
        score = -forest.score_samples(x)
        attack_t = np.quantile(score, 1 - self.contamination)
        review_t = np.quantile(score, 1 - self.review_share)
        verdict = np.where(
            score >= attack_t, "attack", np.where(score >= review_t, "review", "benign")
        )
        # Reasons: the features furthest from the population median (robust z-scores).
        med = np.median(x, axis=0)
        mad = np.median(np.abs(x - med), axis=0) * 1.4826
        scale = np.where(mad > 1e-9, mad, np.maximum(x.std(axis=0), 1e-9))
        z = (x - med) / scale
        reasons = []
        for i in range(len(ids)):
            if verdict[i] == "benign":
                reasons.append("")
                continue
            top = np.argsort(-np.abs(z[i]))[:3]
            reasons.append(
                "; ".join(
                    f"{FEATURES[j]} {'high' if z[i, j] > 0 else 'low'} (z={z[i, j]:+.1f})"
                    for j in top
                )
            )
        self.notes_ = (
            f"{len(FEATURES)} per-account aggregates, {self.n_estimators} trees, fit on all "
            f"accounts unlabelled; attack = top {self.contamination:.0%} of scores"
        )
        return accounts_table(ids, score, verdict, None, reasons)
