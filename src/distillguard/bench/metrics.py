"""Quality metrics of a detector's contract output against the simulator's ground truth.

Account-level inputs are small (one row per account) and are handled as numpy arrays;
the request-level join (request labels × log × ``requests.parquet``) runs in DuckDB so it
scales to the ``large`` preset.

Definitions (the bench reports these names):

- ``roc_auc``, ``pr_auc``: of ``risk`` over all labelled accounts (scikit-learn's
  ``roc_auc_score`` and ``average_precision_score``). An account missing from the output
  counts as risk 0, verdict ``benign`` (``n_missing`` says how many).
- ``recall_at_fpr_0.1%`` / ``recall_at_fpr_1%``: the threshold is set on the benign
  accounts' risk so that at most ``floor(f × n_benign)`` benign accounts score *strictly*
  above it; an account is flagged when its risk is strictly above the threshold. Ties at
  the threshold are therefore never flagged (conservative: a detector cannot buy recall with
  ties against benign accounts).
- ``attack_precision``, ``attack_recall``, ``attack_fpr``: of ``verdict == "attack"``.
- ``personas``: per benign persona, the share with verdict ``attack`` (``attack_fpr``) and
  with verdict ``attack`` or ``review`` (``flag_fpr``).
- ``campaigns``: per campaign, the share of its accounts with verdict ``attack``
  (``found_attack``) and with ``attack`` or ``review`` (``found_flagged``); the share in a
  cluster of purity ≥ 95% (``in_pure_clusters``), where an account's purity is the share of
  its cluster's members that belong to the same campaign; and ``mean_purity`` over its
  clustered accounts (accounts without a cluster are left out of the mean).
- ``mixed``: inside mixed accounts (requests with both ``is_attack`` 1 and 0), a request is
  predicted harvest when its ``requests.parquet`` risk is ≥ 0.5 (absent requests: risk 0);
  request-level recall and precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ..errors import InvalidInputError

FPR_POINTS: tuple[float, ...] = (0.001, 0.01)
PURITY_MIN = 0.95
HARVEST_RISK = 0.5


@dataclass(frozen=True)
class AccountTable:
    """Labels aligned with a detector's output, one entry per labelled account."""

    account_id: np.ndarray  # str
    is_attack: np.ndarray  # bool
    campaign_id: np.ndarray  # str ("" for benign)
    persona: np.ndarray  # str
    risk: np.ndarray  # float
    verdict: np.ndarray  # str
    cluster_id: np.ndarray  # str ("" when none)
    n_missing: int


def _csv(con: duckdb.DuckDBPyConnection, path: Path, what: str) -> str:
    if not Path(path).is_file():
        raise InvalidInputError(f"{what} not found: {path}")
    return f"read_csv('{str(path).replace(chr(39), chr(39) * 2)}', all_varchar=true, header=true)"


def load_accounts(findings_csv: str | Path, labels_csv: str | Path) -> AccountTable:
    """Join a detector's ``accounts.csv`` to ``labels.csv`` (left join on the labels)."""
    con = duckdb.connect()
    try:
        lab = _csv(con, Path(labels_csv), "labels file")
        out = _csv(con, Path(findings_csv), "detector output accounts.csv")
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {out}").fetchall()}
        missing = {"account_id", "risk", "verdict"} - cols
        if missing:
            raise InvalidInputError(
                f"{findings_csv} lacks contract column(s): {', '.join(sorted(missing))}"
            )
        cluster = "o.cluster_id" if "cluster_id" in cols else "NULL"
        rows = con.execute(
            f"""
            SELECT l.account_id,
                   coalesce(TRY_CAST(l.is_attack AS INTEGER), 0) = 1 AS is_attack,
                   coalesce(l.campaign_id, '') AS campaign_id,
                   coalesce(l.persona, '') AS persona,
                   coalesce(TRY_CAST(o.risk AS DOUBLE), 0.0) AS risk,
                   coalesce(o.verdict, 'benign') AS verdict,
                   coalesce({cluster}, '') AS cluster_id,
                   o.account_id IS NULL AS missing
            FROM {lab} l LEFT JOIN (SELECT DISTINCT ON (account_id) * FROM {out}) o
              ON l.account_id = o.account_id
            ORDER BY l.account_id
            """
        ).fetchnumpy()
    finally:
        con.close()
    if len(rows["account_id"]) == 0:
        raise InvalidInputError(f"{labels_csv} has no accounts")
    return AccountTable(
        account_id=np.asarray(rows["account_id"], dtype=object),
        is_attack=np.asarray(rows["is_attack"], dtype=bool),
        campaign_id=np.asarray(rows["campaign_id"], dtype=object),
        persona=np.asarray(rows["persona"], dtype=object),
        risk=np.asarray(rows["risk"], dtype=float),
        verdict=np.asarray(rows["verdict"], dtype=object),
        cluster_id=np.asarray(rows["cluster_id"], dtype=object),
        n_missing=int(np.asarray(rows["missing"]).sum()),
    )


def recall_at_fpr(is_attack: np.ndarray, risk: np.ndarray, fpr: float) -> dict:
    """Attack recall at a benign FPR budget, with ties handled conservatively.

    At most ``k = floor(fpr × n_benign)`` benign accounts may score strictly above the
    threshold; the threshold is the (k+1)-th highest benign risk and only risk strictly
    above it counts as flagged.
    """
    y = np.asarray(is_attack, dtype=bool)
    r = np.asarray(risk, dtype=float)
    benign = np.sort(r[~y])[::-1]
    n_attack = int(y.sum())
    k = int(math.floor(fpr * len(benign) + 1e-9))
    if len(benign) == 0 or k >= len(benign):
        threshold = -math.inf
    else:
        threshold = float(benign[k])
    flagged = r > threshold
    return {
        "recall": float(flagged[y].mean()) if n_attack else float("nan"),
        "threshold": threshold,
        "fpr": float(flagged[~y].mean()) if len(benign) else float("nan"),
    }


def _safe(fn, y: np.ndarray, s: np.ndarray) -> float:
    if y.all() or (~y).all():
        return float("nan")
    return float(fn(y, s))


def cluster_purity(cluster_id: np.ndarray, campaign_id: np.ndarray) -> np.ndarray:
    """Per account: share of its cluster's members in the same campaign (NaN if unclustered).

    Benign accounts carry campaign ``""`` and so count as impurity for any campaign.
    """
    cid = np.asarray(cluster_id, dtype=object)
    camp = np.asarray(campaign_id, dtype=object)
    out = np.full(len(cid), np.nan)
    has = cid != ""
    if not has.any():
        return out
    keys = np.char.add(np.char.add(cid[has].astype(str), "\x1f"), camp[has].astype(str))
    _, inv_pair, pair_counts = np.unique(keys, return_inverse=True, return_counts=True)
    _, inv_cl, cl_counts = np.unique(cid[has].astype(str), return_inverse=True, return_counts=True)
    out[has] = pair_counts[inv_pair] / cl_counts[inv_cl]
    return out


def account_metrics(table: AccountTable) -> dict:
    """Every account-level metric of the module docstring."""
    y, r, v = table.is_attack, table.risk, table.verdict
    attack_v = v == "attack"
    flagged_v = (v == "attack") | (v == "review")
    n_att, n_ben = int(y.sum()), int((~y).sum())
    tp = int((attack_v & y).sum())
    fp = int((attack_v & ~y).sum())
    res: dict = {
        "n_accounts": len(y),
        "n_attack_accounts": n_att,
        "n_benign_accounts": n_ben,
        "n_missing": table.n_missing,
        "roc_auc": _safe(roc_auc_score, y, r),
        "pr_auc": _safe(average_precision_score, y, r),
        "attack_precision": tp / (tp + fp) if tp + fp else float("nan"),
        "attack_recall": tp / n_att if n_att else float("nan"),
        "attack_fpr": fp / n_ben if n_ben else float("nan"),
        "flag_recall": float(flagged_v[y].mean()) if n_att else float("nan"),
        "flag_fpr": float(flagged_v[~y].mean()) if n_ben else float("nan"),
    }
    for f in FPR_POINTS:
        res[f"recall_at_fpr_{f * 100:g}%"] = recall_at_fpr(y, r, f)
    personas: dict[str, dict] = {}
    for p in sorted(set(table.persona[~y])):
        m = (~y) & (table.persona == p)
        personas[p or "(none)"] = {
            "n": int(m.sum()),
            "attack_fpr": float(attack_v[m].mean()),
            "flag_fpr": float(flagged_v[m].mean()),
        }
    res["personas"] = personas
    purity = cluster_purity(table.cluster_id, table.campaign_id)
    campaigns: dict[str, dict] = {}
    for c in sorted(set(table.campaign_id[y]) - {""}):
        m = table.campaign_id == c
        pur = purity[m]
        clustered = ~np.isnan(pur)
        campaigns[c] = {
            "n": int(m.sum()),
            "found_attack": float(attack_v[m].mean()),
            "found_flagged": float(flagged_v[m].mean()),
            "in_pure_clusters": float((clustered & (np.nan_to_num(pur) >= PURITY_MIN)).mean()),
            "clustered": float(clustered.mean()),
            "mean_purity": float(pur[clustered].mean()) if clustered.any() else float("nan"),
        }
    res["campaigns"] = campaigns
    return res


def mixed_requests(
    request_labels_csv: str | Path, logs: list[Path], out_parquet: str | Path
) -> dict:
    """Write the requests of mixed accounts (``request_id, account_id, is_attack``).

    ``logs`` maps request ids to accounts (request labels carry no account). Computed once
    per data set and shared by every detector's :func:`mixed_request_metrics`.
    """
    from .logs import open_requests

    con = open_requests(logs)
    try:
        lab = _csv(con, Path(request_labels_csv), "request labels file")
        out = str(out_parquet).replace("'", "''")
        con.execute(
            f"""
            COPY (
              WITH rl AS (
                SELECT r.request_id, r.account_id,
                       coalesce(TRY_CAST(l.is_attack AS INTEGER), 0) = 1 AS is_attack
                FROM (SELECT request_id, account_id FROM requests) r
                JOIN {lab} l USING (request_id)
              ),
              mixed AS (
                SELECT account_id FROM rl GROUP BY account_id
                HAVING bool_or(is_attack) AND bool_or(NOT is_attack)
              )
              SELECT rl.* FROM rl JOIN mixed USING (account_id)
            ) TO '{out}' (FORMAT parquet)
            """
        )
        n_acc, n_req, n_att = con.execute(
            "SELECT count(DISTINCT account_id), count(*), coalesce(sum(is_attack::INT), 0) "
            f"FROM read_parquet('{out}')"
        ).fetchone()
    finally:
        con.close()
    return {
        "n_mixed_accounts": int(n_acc),
        "n_requests": int(n_req),
        "n_attack_requests": int(n_att),
    }


def mixed_request_metrics(mixed_parquet: str | Path, requests_parquet: str | Path | None) -> dict:
    """Request-level recall and precision of harvest marking inside mixed accounts.

    ``mixed_parquet`` comes from :func:`mixed_requests`. A request is predicted harvest when
    its ``requests.parquet`` risk is ≥ 0.5; requests absent from it count as risk 0.
    Recall/precision are NaN without mixed accounts or without ``requests.parquet``.
    """
    res = {"recall": float("nan"), "precision": float("nan")}
    if requests_parquet is None or not Path(requests_parquet).is_file():
        return res
    con = duckdb.connect()
    try:
        mp = str(mixed_parquet).replace("'", "''")
        rp = str(requests_parquet).replace("'", "''")
        n_att, tp, pred = con.execute(
            f"""
            SELECT coalesce(sum(m.is_attack::INT), 0),
                   coalesce(sum((m.is_attack AND p.risk >= {HARVEST_RISK})::INT), 0),
                   coalesce(sum((p.risk >= {HARVEST_RISK})::INT), 0)
            FROM read_parquet('{mp}') m
            LEFT JOIN (SELECT request_id, max(TRY_CAST(risk AS DOUBLE)) AS risk
                       FROM read_parquet('{rp}') GROUP BY request_id) p USING (request_id)
            """
        ).fetchone()
    finally:
        con.close()
    res["recall"] = tp / n_att if n_att else float("nan")
    res["precision"] = tp / pred if pred else float("nan")
    return res


def early_detection(table: AccountTable, active: set[str] | None = None) -> dict:
    """Share of campaign accounts flagged by a run on an early slice of the data.

    ``table`` is the early run's output joined to the full labels; ``active`` (accounts seen
    in the slice) gives the second denominator. Reports both ``attack`` and ``attack or
    review`` verdicts.
    """
    y = table.is_attack
    attack_v = table.verdict == "attack"
    flagged_v = attack_v | (table.verdict == "review")
    res = {
        "n_campaign_accounts": int(y.sum()),
        "flagged_of_all": float(flagged_v[y].mean()) if y.any() else float("nan"),
        "attack_of_all": float(attack_v[y].mean()) if y.any() else float("nan"),
    }
    if active is not None:
        act = np.array([a in active for a in table.account_id], dtype=bool) & y
        res["n_active_campaign_accounts"] = int(act.sum())
        res["flagged_of_active"] = float(flagged_v[act].mean()) if act.any() else float("nan")
        res["attack_of_active"] = float(attack_v[act].mean()) if act.any() else float("nan")
    return res
