"""Coverage complementarity: accounts drawing disjoint items from one task pool (a shard).

A campaign that splits a task set across keys wraps every item in the same prompt template
and gives each key its own slice: many accounts share the template, but no item is ever sent
by two of them. People on a shared template (a class working the same problems, an app's
users) repeat each other's items, and a template only one account uses is no pool. Blocked by
template, then by (template, item): two GROUP BYs, no pairs.
"""

from __future__ import annotations

from ..accounts.units import EvidenceUnit, check_positive_int

# Accounts per template (the pool) and per (template, item).
POOL_ITEMS = """
SELECT template, item, count(DISTINCT account_id) AS item_accounts
FROM request_keys WHERE template IS NOT NULL AND item IS NOT NULL
GROUP BY template, item
"""
POOL_SIZES = """
SELECT template, count(DISTINCT account_id) AS pool_accounts
FROM request_keys WHERE template IS NOT NULL AND item IS NOT NULL
GROUP BY template
"""
# Per account: the share of its requests that are items of a shared pool no other account
# sent, and the largest such pool it draws from.
ACCOUNT_COMPLEMENT = """
SELECT r.account_id AS account_id,
  avg(CASE WHEN s.pool_accounts >= {min_pool} AND i.item_accounts = 1 THEN 1.0 ELSE 0.0 END)
    AS pool_exclusive_share,
  avg(CASE WHEN s.pool_accounts >= {min_pool} AND i.item_accounts > 1 THEN 1.0 ELSE 0.0 END)
    AS pool_repeated_share,
  max(CASE WHEN s.pool_accounts >= {min_pool} AND i.item_accounts = 1 THEN s.pool_accounts
           ELSE 0 END) AS pool_accounts
FROM request_keys r
LEFT JOIN pool_items i ON r.template = i.template AND r.item = i.item
LEFT JOIN pool_sizes s ON r.template = s.template
GROUP BY r.account_id
"""


class CoverageComplementarity(EvidenceUnit):
    """Per account: ``pool_exclusive_share`` (its requests on a template shared with at least
    ``min_pool - 1`` other accounts whose item nobody else sent), ``pool_repeated_share``
    (items others sent too) and ``pool_accounts`` (the largest such pool).

    Parameters
    ----------
    min_pool : accounts a template needs to count as a shared pool.
    """

    name = "coverage_complementarity"
    columns = {"pool_exclusive_share": 0.0, "pool_repeated_share": 0.0, "pool_accounts": 0.0}

    def __init__(self, min_pool: int = 3) -> None:
        self.min_pool = min_pool

    def _validate(self) -> None:
        check_positive_int(self, "min_pool", self.min_pool, 2)

    def sql(self) -> dict[str, str]:
        return {
            "pool_items": POOL_ITEMS,
            "pool_sizes": POOL_SIZES,
            "account_complement": ACCOUNT_COMPLEMENT.format(min_pool=int(self.min_pool)),
        }
