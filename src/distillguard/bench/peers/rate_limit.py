"""Gateway-style per-account rate limit (the baseline every API already has).

Counts each account's requests in fixed minute, hour and day windows (UTC) and compares
the peak of each with a limit. An account that ever exceeds a limit would have been
throttled: verdict ``attack``; one that came within ``review_share`` of a limit gets
``review``. ``risk = r / (1 + r)`` with ``r`` the largest peak-to-limit ratio, so the limit
itself maps to 0.5. Token-based limits are left out: the simulated log carries usage for
only some requests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..logs import open_requests
from .base import Peer, accounts_table, squash


class RateLimitPeer(Peer):
    """Per-account fixed-window rate limit.

    Parameters
    ----------
    per_minute, per_hour, per_day : request limits per window.
    review_share : share of a limit from which the verdict is ``review``.
    """

    name = "rate_limit"
    reference = "gateway-style per-account rate limit (fixed windows)"

    def __init__(
        self,
        per_minute: int = 60,
        per_hour: int = 1000,
        per_day: int = 10000,
        review_share: float = 0.8,
    ) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.per_day = per_day
        self.review_share = review_share

    def detect(self, logs: list[Path], accounts: Path | None = None) -> pa.Table:
        con = open_requests(logs)
        try:
            # One scan: minute counts, then hours and days rolled up from them.
            res = con.execute(
                """
                WITH m AS (
                  SELECT account_id, ts_ms // 60000 AS minute, count(*) AS n
                  FROM requests GROUP BY ALL
                ),
                h AS (SELECT account_id, minute // 60 AS hour, sum(n) AS n FROM m GROUP BY ALL),
                d AS (SELECT account_id, hour // 24 AS day, sum(n) AS n FROM h GROUP BY ALL),
                pm AS (SELECT account_id, max(n) AS peak_min FROM m GROUP BY ALL),
                ph AS (SELECT account_id, max(n) AS peak_hour FROM h GROUP BY ALL),
                pd AS (SELECT account_id, max(n) AS peak_day, sum(n) AS n_req FROM d GROUP BY ALL)
                SELECT account_id, peak_min, peak_hour, peak_day, n_req
                FROM pm JOIN ph USING (account_id) JOIN pd USING (account_id)
                ORDER BY account_id
                """
            ).fetchnumpy()
        finally:
            con.close()
        peaks = np.vstack(
            [
                np.asarray(res["peak_min"], float) / self.per_minute,
                np.asarray(res["peak_hour"], float) / self.per_hour,
                np.asarray(res["peak_day"], float) / self.per_day,
            ]
        )
        ratio = peaks.max(axis=0)
        which = peaks.argmax(axis=0)
        labels = ("req/min", "req/hour", "req/day")
        limits = (self.per_minute, self.per_hour, self.per_day)
        peak_vals = (res["peak_min"], res["peak_hour"], res["peak_day"])
        verdict = np.where(
            ratio > 1.0, "attack", np.where(ratio >= self.review_share, "review", "benign")
        )
        reasons = [
            (
                f"peak {int(peak_vals[w][i])} {labels[w]} vs limit {limits[w]}"
                if ratio[i] >= self.review_share
                else ""
            )
            for i, w in enumerate(which)
        ]
        self.notes_ = (
            f"limits {self.per_minute}/min, {self.per_hour}/hour, {self.per_day}/day "
            "(fixed UTC windows)"
        )
        return accounts_table(res["account_id"], squash(ratio), verdict, None, reasons)
