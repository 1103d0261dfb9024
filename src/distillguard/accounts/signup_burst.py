"""Sign-up bursts: many accounts created in one short window through the same sign-up path.

A campaign registers its accounts in bulk shortly before it starts (scripted sign-ups on the
free-credit route with the weakest verification); genuine customers trickle in. Blocked by the
sign-up window (two offset grids, so a burst across a bucket edge is still one burst) and by
(route, verification): linear in the account table.

With ``base_rate=True`` a window counts only when it holds more sign-ups than the deployment's
own rate on that path predicts: two honest customers who happen to register on the same day
are a coincidence, not a burst, when the path sees a sign-up every few days.
"""

from __future__ import annotations

from ._base import check_range
from .units import EvidenceUnit

SIGNUP_BLOCKS = """
SELECT account_id,
  CAST(floor(created_ms / {window_ms}.0) AS BIGINT) AS b0,
  CAST(floor((created_ms + {half_ms}) / {window_ms}.0) AS BIGINT) AS b1,
  concat(coalesce(signup_route, ''), '|', coalesce(verification, '')) AS attrs
FROM account_meta
WHERE created_ms IS NOT NULL AND account_id IS NOT NULL
"""

# Per account: others signed up in its window with the same path, and with any path.
ACCOUNT_SIGNUP_BURST = """
SELECT s.account_id AS account_id,
  greatest(a0.n, a1.n) - 1 AS signup_burst_peers,
  greatest(t0.n, t1.n) - 1 AS signup_window_peers
FROM signup_blocks s
JOIN (SELECT b0, attrs, count(*) AS n FROM signup_blocks GROUP BY b0, attrs) a0
  ON s.b0 = a0.b0 AND s.attrs = a0.attrs
JOIN (SELECT b1, attrs, count(*) AS n FROM signup_blocks GROUP BY b1, attrs) a1
  ON s.b1 = a1.b1 AND s.attrs = a1.attrs
JOIN (SELECT b0, count(*) AS n FROM signup_blocks GROUP BY b0) t0 ON s.b0 = t0.b0
JOIN (SELECT b1, count(*) AS n FROM signup_blocks GROUP BY b1) t1 ON s.b1 = t1.b1
"""


# The same peers, kept only where the window is a burst against the deployment's own rate: the
# others in an account's window are Poisson(lam) under a steady trickle, lam = the path's
# sign-ups outside that window per window-length of the rest of the span. Kept when the Chernoff
# bound ln P(N >= k) <= k - lam - k ln(k / lam) (k > lam; an upper bound, so the test never
# calls a coincidence a burst that the exact tail would not) is below ln(1 / windows in the
# span): one chance in the whole span, as a reviewer scanning every window would demand
# (Bonferroni). No rate outside the window (lam = 0): any peer is a burst.
ACCOUNT_SIGNUP_BURST_RATE = """
WITH span AS (
  SELECT greatest(max(created_ms) - min(created_ms), 1) AS span_ms FROM account_meta
  WHERE created_ms IS NOT NULL AND account_id IS NOT NULL
), peers AS (
  SELECT r.account_id, r.signup_burst_peers AS k_path, r.signup_window_peers AS k_all,
    p.n AS n_path, t.n AS n_all
  FROM account_signup_raw r
  JOIN signup_blocks s ON r.account_id = s.account_id
  JOIN (SELECT attrs, count(*) AS n FROM signup_blocks GROUP BY attrs) p ON s.attrs = p.attrs
  CROSS JOIN (SELECT count(*) AS n FROM signup_blocks) t
), rates AS (
  SELECT account_id, k_path, k_all,
    (n_path - k_path - 1) * {window_ms}.0 / greatest(span_ms - {window_ms}, {window_ms}) AS lam_path,
    (n_all - k_all - 1) * {window_ms}.0 / greatest(span_ms - {window_ms}, {window_ms}) AS lam_all,
    ln(greatest(span_ms / {window_ms}.0, 1.0)) AS ln_windows
  FROM peers CROSS JOIN span
)
SELECT account_id,
  CASE WHEN {burst_path} THEN k_path ELSE 0 END AS signup_burst_peers,
  CASE WHEN {burst_all} THEN k_all ELSE 0 END AS signup_window_peers
FROM rates
"""


def _is_burst(k: str, lam: str) -> str:
    """SQL: ``k`` others in the window are improbable at rate ``lam`` (see above)."""
    return (
        f"({k} > 0 AND ({lam} <= 0 OR ({k} > {lam} AND "
        f"{k} - {lam} - {k} * ln({k} / {lam}) < -ln_windows)))"
    )


class SignupBurst(EvidenceUnit):
    """How many other accounts signed up within ``window_hours`` of this one, through the same
    route and verification (``signup_burst_peers``) and through any (``signup_window_peers``).

    Parameters
    ----------
    window_hours : width of the sign-up window.
    base_rate : count a window's peers only when the window is a burst against the deployment's
        own sign-up rate on that path (Poisson tail, see ``ACCOUNT_SIGNUP_BURST_RATE``). Off by
        default: the shipped risk model was trained on the raw counts (a retrain must go with
        turning it on).

    Missing when no account table was given.
    """

    name = "signup_burst"
    columns = {"signup_burst_peers": None, "signup_window_peers": None}

    def __init__(self, window_hours: float = 24.0, base_rate: bool = False) -> None:
        self.window_hours = window_hours
        self.base_rate = base_rate

    def _validate(self) -> None:
        check_range(self, "window_hours", self.window_hours, 0.1, None)

    def sql(self) -> dict[str, str]:
        window_ms = int(self.window_hours * 3_600_000)
        blocks = SIGNUP_BLOCKS.format(window_ms=window_ms, half_ms=window_ms // 2)
        if not self.base_rate:
            return {"signup_blocks": blocks, "account_signup_burst": ACCOUNT_SIGNUP_BURST}
        rate = ACCOUNT_SIGNUP_BURST_RATE.format(
            window_ms=window_ms,
            burst_path=_is_burst("k_path", "lam_path"),
            burst_all=_is_burst("k_all", "lam_all"),
        )
        return {
            "signup_blocks": blocks,
            "account_signup_raw": ACCOUNT_SIGNUP_BURST,
            "account_signup_burst": rate,
        }
