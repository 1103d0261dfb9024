"""Per-account prompt samples for the embedding peers, chosen in DuckDB.

Embedding every prompt is out of reach for MiniLM (~50 sentences/s per core), so the text
peers embed a sample: at most ``cap`` prompts per account (a seeded hash order, i.e. a
uniform random sample without replacement, drawn by a seeded hash of the request id), kept in time order, only for accounts with at
least ``min_n`` prompts. When the total would exceed ``budget`` texts, the per-account cap is
lowered (never below ``min_n``) until it fits; the cap actually used is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..logs import open_requests


@dataclass(frozen=True)
class PromptSample:
    """Sampled prompts in (account, time) order and every account's full request count."""

    account_ids: np.ndarray  # every account in the log
    n_requests: np.ndarray  # per account (aligned with account_ids)
    sample_account: np.ndarray  # per sampled prompt
    sample_ts: np.ndarray
    sample_text: list[str]
    cap: int  # per-account cap actually used

    def groups(self) -> list[tuple[str, int, int]]:
        """``(account_id, start, stop)`` slices of the sample, one per sampled account."""
        acc = self.sample_account
        if len(acc) == 0:
            return []
        change = np.flatnonzero(acc[1:] != acc[:-1]) + 1
        starts = np.concatenate([[0], change])
        stops = np.concatenate([change, [len(acc)]])
        return [(str(acc[s]), int(s), int(e)) for s, e in zip(starts, stops, strict=True)]


def effective_cap(counts: np.ndarray, cap: int, min_n: int, budget: int | None) -> int:
    """The largest per-account cap ≤ ``cap`` whose sample fits ``budget`` (≥ ``min_n``)."""
    c = np.asarray(counts)
    c = c[c >= min_n]
    if budget is None or np.minimum(c, cap).sum() <= budget:
        return cap
    lo, hi = min_n, cap
    while lo < hi:  # binary search on the cap: total is monotone in it
        mid = (lo + hi + 1) // 2
        if np.minimum(c, mid).sum() <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def sample_prompts(
    logs: list[Path], cap: int, min_n: int, budget: int | None = None, seed: int = 0
) -> PromptSample:
    """Up to ``cap`` prompts per account with ≥ ``min_n`` prompts, within ``budget``.

    Two streaming passes and no window over the whole log (which would hold every prompt's
    text in memory): the first counts prompts per account, the second keeps a prompt when a
    seeded hash of its request id falls below ``1.5 × cap / n`` of its account; the few
    surplus rows are trimmed by the same hash order.
    """
    con = open_requests(logs)
    try:
        counts = con.execute(
            "SELECT account_id, count(*) AS n, "
            "count(*) FILTER (WHERE prompt_text IS NOT NULL AND length(prompt_text) > 0) AS np "
            "FROM requests GROUP BY account_id ORDER BY account_id"
        ).fetchnumpy()
        n_prompts = np.asarray(counts["np"], dtype=np.int64)
        used = effective_cap(n_prompts, cap, min_n, budget)
        keep = n_prompts >= min_n
        # Oversample so that an account rarely falls short of ``used`` (it then keeps all
        # it drew); accounts at or under the cap keep every prompt.
        prob = np.where(keep, np.minimum(1.0, 1.5 * used / np.maximum(n_prompts, 1)), 0.0)
        con.register(
            "sample_prob",
            pa.table({"account_id": counts["account_id"], "p": prob}),
        )
        rows = con.execute(
            f"""
            WITH s AS (
              SELECT r.account_id, r.ts_ms, r.prompt_text,
                     hash(r.request_id || '{int(seed)}') AS h
              FROM requests r JOIN sample_prob q USING (account_id)
              WHERE q.p > 0 AND r.prompt_text IS NOT NULL AND length(r.prompt_text) > 0
                AND (hash(r.request_id || '{int(seed)}') % 1000000007) / 1000000007.0 < q.p
            ),
            t AS (
              SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY h) AS k FROM s
            )
            SELECT account_id, ts_ms, prompt_text FROM t WHERE k <= {used}
            ORDER BY account_id, ts_ms
            """
        ).fetchnumpy()
    finally:
        con.close()
    return PromptSample(
        account_ids=np.asarray(counts["account_id"], dtype=object),
        n_requests=np.asarray(counts["n"], dtype=np.int64),
        sample_account=np.asarray(rows["account_id"], dtype=object),
        sample_ts=np.asarray(rows["ts_ms"], dtype=np.int64),
        sample_text=[str(t) for t in rows["prompt_text"]],
        cap=used,
    )
