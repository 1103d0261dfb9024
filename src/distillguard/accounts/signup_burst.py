"""Sign-up bursts: many accounts created in one short window through the same sign-up path.

A campaign registers its accounts in bulk shortly before it starts (scripted sign-ups on the
free-credit route with the weakest verification); genuine customers trickle in. Blocked by the
sign-up window (two offset grids, so a burst across a bucket edge is still one burst) and by
(route, verification): linear in the account table.
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


class SignupBurst(EvidenceUnit):
    """How many other accounts signed up within ``window_hours`` of this one, through the same
    route and verification (``signup_burst_peers``) and through any (``signup_window_peers``).

    Parameters
    ----------
    window_hours : width of the sign-up window.

    Missing when no account table was given.
    """

    name = "signup_burst"
    columns = {"signup_burst_peers": None, "signup_window_peers": None}

    def __init__(self, window_hours: float = 24.0) -> None:
        self.window_hours = window_hours

    def _validate(self) -> None:
        check_range(self, "window_hours", self.window_hours, 0.1, None)

    def sql(self) -> dict[str, str]:
        window_ms = int(self.window_hours * 3_600_000)
        return {
            "signup_blocks": SIGNUP_BLOCKS.format(window_ms=window_ms, half_ms=window_ms // 2),
            "account_signup_burst": ACCOUNT_SIGNUP_BURST,
        }
