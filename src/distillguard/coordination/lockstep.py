"""Lockstep activity across accounts (SynchroTrap, Cao et al., CCS 2014).

Each account's activity is a set of (time bucket, action) keys, an action being e.g. the model
and capability asked for, or the prompt template. Two accounts are in lockstep when their sets
overlap strongly (Jaccard). Pairs are only formed inside a block (one key) and only for blocks
of at most ``max_block`` accounts: a key that half the deployment touches (the evening hour of
the most popular model) is no evidence of coordination and would cost quadratic work, so the
work stays linear in the number of keys times ``max_block``.

Per account: ``<name>_peers``, how many accounts it is in lockstep with (its lockstep group's
size), and ``<name>_jaccard``, its strongest overlap with any account sharing at least
``min_shared`` keys.
"""

from __future__ import annotations

from ..accounts._base import check_range
from ..accounts.units import EvidenceUnit, check_positive_int
from ..errors import InvalidParameterError

ACTIONS: dict[str, str] = {
    "model_capability": "concat(model, '|', capability)",
    "template": "template",
    "capability": "capability",
}

LOCKSTEP_KEYS = """
SELECT DISTINCT account_id,
  concat(CAST(CAST(floor(ts_ms / {bucket_ms}.0) AS BIGINT) AS STRING), '@', {action}) AS k
FROM request_keys
WHERE {action} IS NOT NULL
"""
# Each block numbered (j) too: pairs join on an integer, not on the key string.
LOCKSTEP_BLOCKS = """
SELECT k, count(*) AS deg, row_number() OVER (ORDER BY k) AS j FROM {p}_keys GROUP BY k
"""
# Each account numbered (i): pairs are counted on integers, not on pairs of id strings
# (hashing and comparing two strings per joined row was ~3x the CPU on medium).
LOCKSTEP_SIZES = """
SELECT account_id, count(*) AS n_keys, row_number() OVER (ORDER BY account_id) AS i
FROM {p}_keys GROUP BY account_id
"""
# The keys of small blocks only (the only ones pairs are formed in).
LOCKSTEP_SMALL = """
SELECT s.i AS i, g.j AS k
FROM {p}_keys x
JOIN {p}_blocks g ON x.k = g.k
JOIN {p}_sizes s ON x.account_id = s.account_id
WHERE g.deg >= 2 AND g.deg <= {max_block}
"""
# Pairs inside small blocks only, each pair once (a < b: the counts are symmetric, so half
# the join); a pair is kept when it shares at least min_shared keys.
LOCKSTEP_PAIRS = """
SELECT x.i AS a, y.i AS b, count(*) AS shared
FROM {p}_small x
JOIN {p}_small y ON x.k = y.k AND x.i < y.i
GROUP BY x.i, y.i
HAVING count(*) >= {min_shared}
"""
# Each pair's Jaccard, counted for both of its accounts.
ACCOUNT_LOCKSTEP = """
WITH j AS (
  SELECT p.a AS a, p.b AS b, p.shared * 1.0 / (sa.n_keys + sb.n_keys - p.shared) AS jac
  FROM {p}_pairs p
  JOIN {p}_sizes sa ON p.a = sa.i
  JOIN {p}_sizes sb ON p.b = sb.i
),
d AS (SELECT a AS i, jac FROM j UNION ALL SELECT b AS i, jac FROM j),
e AS (
  SELECT i, sum(CASE WHEN jac >= {min_jaccard} THEN 1 ELSE 0 END) AS peers, max(jac) AS jaccard
  FROM d GROUP BY i
)
SELECT s.account_id AS account_id, e.peers AS {p}_peers, e.jaccard AS {p}_jaccard
FROM e JOIN {p}_sizes s ON e.i = s.i
"""


class Lockstep(EvidenceUnit):
    """Lockstep group size and strength per account.

    Parameters
    ----------
    name : prefix of the tables and of the two output columns.
    bucket_minutes : width of a time bucket.
    action : what an account does in a bucket (a key of ``ACTIONS``).
    max_block : largest block (accounts on one key) in which pairs are formed.
    min_shared : keys a pair must share to count.
    min_jaccard : overlap from which two accounts are in lockstep.
    """

    def __init__(
        self,
        name: str = "lockstep",
        bucket_minutes: int = 60,
        action: str = "model_capability",
        max_block: int = 200,
        min_shared: int = 2,
        min_jaccard: float = 0.1,
    ) -> None:
        self.name = name
        self.bucket_minutes = bucket_minutes
        self.action = action
        self.max_block = max_block
        self.min_shared = min_shared
        self.min_jaccard = min_jaccard

    def _validate(self) -> None:
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise InvalidParameterError(f"Lockstep.name must be an identifier; got {self.name!r}")
        if self.action not in ACTIONS:
            raise InvalidParameterError(
                f"Lockstep.action must be one of {list(ACTIONS)}; got {self.action!r}"
            )
        check_positive_int(self, "bucket_minutes", self.bucket_minutes)
        check_positive_int(self, "max_block", self.max_block, 2)
        check_positive_int(self, "min_shared", self.min_shared)
        check_range(self, "min_jaccard", self.min_jaccard, 0.0, 1.0)

    def output_columns(self) -> dict[str, float | None]:
        return {f"{self.name}_peers": 0.0, f"{self.name}_jaccard": 0.0}

    def sql(self) -> dict[str, str]:
        p = self.name
        keys = LOCKSTEP_KEYS.format(
            bucket_ms=int(self.bucket_minutes) * 60_000, action=ACTIONS[self.action]
        )
        return {
            f"{p}_keys": keys,
            f"{p}_blocks": LOCKSTEP_BLOCKS.format(p=p),
            f"{p}_sizes": LOCKSTEP_SIZES.format(p=p),
            f"{p}_small": LOCKSTEP_SMALL.format(p=p, max_block=int(self.max_block)),
            f"{p}_pairs": LOCKSTEP_PAIRS.format(p=p, min_shared=int(self.min_shared)),
            f"account_{p}": ACCOUNT_LOCKSTEP.format(p=p, min_jaccard=float(self.min_jaccard)),
        }
