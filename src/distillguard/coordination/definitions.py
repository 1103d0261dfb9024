"""Account–key star edges as named SQL strings (DuckDB/Spark common subset).

Every query reads ``request_keys``, ``account_base``, ``account_meta`` and ``account_features``
written by :mod:`distillguard.accounts`. A row says: account A sent ``n`` requests carrying key
K of kind ``key_kind``. Edges are never built between pairs of accounts: each account links to
the keys it used, so the graph stays linear in the data however large a campaign is.
"""

from __future__ import annotations

from ..accounts.definitions import ACCOUNT_OWNER

# One SELECT per key kind; {window_ms} / {pivot_bucket_ms} / {pivot_min_share} are numbers.
EDGE_KIND_SQL: dict[str, str] = {
    "ip": """
SELECT account_id, 'ip' AS key_kind, ip AS key, count(*) AS n
FROM request_keys WHERE ip IS NOT NULL GROUP BY account_id, ip""",
    "prefix24_ua": """
SELECT account_id, 'prefix24_ua' AS key_kind, concat(prefix, '|', ua) AS key, count(*) AS n
FROM request_keys WHERE prefix IS NOT NULL AND ua IS NOT NULL
GROUP BY account_id, concat(prefix, '|', ua)""",
    "asn_ua": """
SELECT account_id, 'asn_ua' AS key_kind, concat(asn, '|', ua) AS key, count(*) AS n
FROM request_keys WHERE asn IS NOT NULL AND ua IS NOT NULL
GROUP BY account_id, concat(asn, '|', ua)""",
    "payment": """
SELECT account_id, 'payment' AS key_kind, payment AS key, count(*) AS n
FROM request_keys WHERE payment IS NOT NULL GROUP BY account_id, payment
UNION ALL
SELECT m.account_id AS account_id, 'payment' AS key_kind, m.payment_fingerprint AS key,
       b.n_requests AS n
FROM account_meta m JOIN account_base b ON m.account_id = b.account_id
WHERE m.payment_fingerprint IS NOT NULL""",
    "template": """
SELECT account_id, 'template' AS key_kind, template AS key, count(*) AS n
FROM request_keys WHERE template IS NOT NULL GROUP BY account_id, template""",
    "system_prompt": """
SELECT account_id, 'system_prompt' AS key_kind, sys_key AS key, count(*) AS n
FROM request_keys WHERE sys_key IS NOT NULL GROUP BY account_id, sys_key""",
    # SynchroTrap: the same template inside the same time window.
    "template_window": """
SELECT account_id, 'template_window' AS key_kind,
       concat(template, '@', CAST(CAST(floor(ts_ms / {window_ms}.0) AS BIGINT) AS STRING)) AS key,
       count(*) AS n
FROM request_keys WHERE template IS NOT NULL
GROUP BY account_id,
         concat(template, '@', CAST(CAST(floor(ts_ms / {window_ms}.0) AS BIGINT) AS STRING))""",
    # Synchronised pivot: moved a large share of traffic to the new model in the same bucket.
    "pivot": """
SELECT account_id, 'pivot' AS key_kind,
       concat('new-model@', CAST(CAST(floor(pivot_first_new_ts / {pivot_bucket_ms}.0) AS BIGINT)
              AS STRING)) AS key,
       pivot_new_requests AS n
FROM account_features
WHERE pivot_first_new_ts IS NOT NULL AND pivot_share >= {pivot_min_share}
  AND pivot_delay_hours <= {pivot_max_delay_h}
  AND pivot_window_requests >= {pivot_min_requests}""",
    # A partner's campaign (sharing.intel.match_accounts): accounts matching its indicators.
    "shared_intel": """
SELECT account_id, 'shared_intel' AS key_kind, campaign_ref AS key, n
FROM shared_matches""",
}
# Kinds built only when asked for (their input table exists only then).
OPTIONAL_KINDS: tuple[str, ...] = ("shared_intel",)

# Collapse duplicates (payment seen in requests and in the account table), attach the account's
# volume, its owner and the key's degree (number of accounts using it). A key links accounts of
# at least two owners or nothing: an owner is the account's organisation when the operator's
# account table (docs/CONTRACT.md §2, never a request field) names one that passed business
# verification, else the account itself (``accounts.definitions.ACCOUNT_OWNER``, the rule
# payment rings and harvest circles share). A company's accounts sharing its card, office
# network, client and templates is how a company works, not a ring; keys used by one owner only
# are dropped here.
# Why verified: an organisation is free to declare (self-serve orgs), so a ring declaring one
# would erase its own links; a business verification ties the org to a legal entity (KYB), and
# the org lowers nothing else (per-account evidence, harvest signals and risk stand).
EDGES_WITH_DEGREE = """
WITH e AS (
  SELECT u.account_id AS account_id, u.key_kind AS key_kind, u.key AS key, u.n AS n,
         b.n_requests AS n_requests
  FROM (
    SELECT account_id, key_kind, key, max(n) AS n
    FROM ({union}) u
    GROUP BY account_id, key_kind, key
  ) u
  JOIN account_base b ON u.account_id = b.account_id
), o AS (OWNER_SQL
), eo AS (
  SELECT e.*, coalesce(o.owner, e.account_id) AS owner
  FROM e LEFT JOIN o ON e.account_id = o.account_id
), d AS (
  SELECT key_kind, key, count(*) AS deg FROM eo GROUP BY key_kind, key
  HAVING count(DISTINCT owner) >= 2
)
SELECT eo.account_id AS account_id, eo.key_kind AS key_kind, eo.key AS key, eo.n AS n,
       eo.n_requests AS n_requests, d.deg AS deg, eo.owner AS owner
FROM eo JOIN d ON eo.key_kind = d.key_kind AND eo.key IS NOT DISTINCT FROM d.key
""".replace("OWNER_SQL", ACCOUNT_OWNER)
# (The degree as a grouped count joined back, not a window count over every edge: the same
# numbers for ~30% less CPU on medium-w101; a NULL key stays one key, as in the window.)


def edge_union(kinds: tuple[str, ...], **values: object) -> str:
    """The UNION ALL of the chosen kinds, with their numbers filled in."""
    parts = [EDGE_KIND_SQL[k].format(**values) for k in kinds]
    return EDGES_WITH_DEGREE.format(union="\nUNION ALL\n".join(parts))
