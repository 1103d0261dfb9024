"""Per-request aggregation as named SQL strings, in the DuckDB/Spark common subset.

See ``engines.base.DIALECT_RULES``. Placeholders in braces are filled by
:func:`render` with numbers validated by the calling estimator (never user text). Every query
reads the normalised ``requests`` table (``contract.STORED_REQUEST_SCHEMA``), ``ip_intel``, and
optionally ``templates`` and ``account_meta``; the Spark engine runs the same strings.
"""

from __future__ import annotations

from ..contract import HARVEST_SIGNALS

# The template a request belongs to: the TemplateIndex id when there is one, otherwise the
# skeleton hash itself (exact skeleton match). The system prompt key is NULL when none.
TEMPLATE_EXPR_WITH_INDEX = (
    "coalesce(CAST(t.template_id AS STRING), CAST(r.skeleton_hash AS STRING))"
)
TEMPLATE_EXPR_NO_INDEX = "CAST(r.skeleton_hash AS STRING)"
TEMPLATE_JOIN_WITH_INDEX = "LEFT JOIN templates t ON r.skeleton_hash = t.skeleton_hash"

# The harvest-signal columns, generated from the contract's one list (``HARVEST_SIGNALS``):
# per request a hit flag per signal, the strongest score, and each score; per account the
# share of requests each signal hit, and the share any did.
_SIGNAL_KEYS = (
    "".join(
        f"  CASE WHEN coalesce(r.sig_{s}, 0) >= {{thr}} THEN 1 ELSE 0 END AS hit_{s},\n"
        for s in HARVEST_SIGNALS
    )
    + "  greatest("
    + ", ".join(f"coalesce(r.sig_{s}, 0)" for s in HARVEST_SIGNALS)
    + ") AS harvest,\n"
    + "".join(f"  coalesce(r.sig_{s}, 0.0) AS sig_{s},\n" for s in HARVEST_SIGNALS)
)
_SIGNAL_SHARES = (
    "".join(f"  avg(hit_{s} * 1.0) AS {s}_share,\n" for s in HARVEST_SIGNALS)
    + "  avg(CASE WHEN "
    + " + ".join(f"hit_{s}" for s in HARVEST_SIGNALS)
    + " > 0 THEN 1.0 ELSE 0.0 END) AS harvest_share,\n"
)

# One narrow row per request with everything account features and graph edges need.
REQUEST_KEYS = (
    """
SELECT
  r.request_id AS request_id,
  r.account_id AS account_id,
  r.ts_ms AS ts_ms,
  r.model AS model,
  r.session_id AS session_id,
  r.ip AS ip,
  i.prefix AS prefix,
  i.asn AS asn,
  coalesce(i.ip_kind, 'unknown') AS ip_kind,
  r.user_agent AS ua,
  r.payment_fingerprint AS payment,
  {template_expr} AS template,
  CAST(r.prompt_hash AS STRING) AS item,
  CASE WHEN r.system_hash IS NULL OR r.system_hash = 0 THEN NULL
       ELSE CAST(r.system_hash AS STRING) END AS sys_key,
  coalesce(r.capability, 'other') AS capability,
  coalesce(r.script, 'latin') AS script,
  coalesce(r.n_user_turns, 1) AS n_user_turns,
  coalesce(r.input_tokens, 0) AS input_tokens,
  coalesce(r.output_tokens, 0) AS output_tokens,
  coalesce(r.max_tokens, -1.0) AS max_tokens,
  r.temperature AS temperature,
  CASE WHEN r.stream IS NULL THEN NULL WHEN r.stream THEN 'true' ELSE 'false' END AS stream,
  lower(r.reasoning) AS reasoning_setting,
  CASE WHEN coalesce(r.reasoning_tokens, 0) > 0 THEN 1
       WHEN r.reasoning IS NULL THEN 0
       WHEN lower(r.reasoning) IN ('', 'none', '0', 'off', 'false', 'disabled') THEN 0
       ELSE 1 END AS is_reasoning,
"""
    + _SIGNAL_KEYS
    + """  r.signal_hits AS signal_hits
FROM requests r
LEFT JOIN ip_intel i ON r.ip = i.ip
{template_join}
"""
)

# Volume, activity, session structure, tokens, reasoning, signals, script, infrastructure.
ACCOUNT_BASE = (
    """
SELECT
  account_id,
  count(*) AS n_requests,
  min(ts_ms) AS first_ts,
  max(ts_ms) AS last_ts,
  count(DISTINCT CAST(floor(ts_ms / 86400000.0) AS BIGINT)) AS active_days,
  count(DISTINCT CAST(floor(ts_ms / 3600000.0) AS BIGINT)) AS active_hours,
  avg(CASE WHEN n_user_turns > 1 THEN 1.0 ELSE 0.0 END) AS multi_turn_share,
  avg(n_user_turns * 1.0) AS mean_user_turns,
  CASE WHEN sum(input_tokens) > 0 THEN sum(output_tokens) * 1.0 / sum(input_tokens)
       ELSE 0.0 END AS out_in_ratio,
  avg(is_reasoning * 1.0) AS reasoning_share,
"""
    + _SIGNAL_SHARES
    + """  avg(harvest * 1.0) AS mean_harvest,
  avg(CASE WHEN script <> 'latin' AND script <> 'unknown' THEN 1.0 ELSE 0.0 END)
    AS non_latin_share,
  count(DISTINCT template) AS n_templates,
  count(DISTINCT session_id) AS n_sessions,
  count(DISTINCT ip) AS n_ips,
  count(DISTINCT prefix) AS n_prefixes,
  count(DISTINCT asn) AS n_asns,
  count(DISTINCT ua) AS n_uas,
  count(DISTINCT model) AS n_models,
  avg(CASE WHEN ip_kind = 'datacenter' THEN 1.0 ELSE 0.0 END) AS datacenter_share,
  avg(CASE WHEN ip_kind = 'vpn' THEN 1.0 ELSE 0.0 END) AS vpn_share,
  avg(CASE WHEN ip_kind = 'tor' THEN 1.0 ELSE 0.0 END) AS tor_share,
  avg(CASE WHEN ip_kind = 'proxy' THEN 1.0 ELSE 0.0 END) AS proxy_share,
  count(DISTINCT payment) AS n_payments
FROM request_keys
GROUP BY account_id
"""
)

# Inter-arrival gaps: mean, standard deviation (CV and burstiness are derived from them).
# Ordered by time alone: requests at the same time leave the same gaps in whichever order.
ACCOUNT_GAPS = """
SELECT account_id,
  avg(gap * 1.0) AS gap_mean_ms,
  stddev_samp(gap * 1.0) AS gap_sd_ms
FROM (
  SELECT account_id,
         ts_ms - lag(ts_ms) OVER (PARTITION BY account_id ORDER BY ts_ms) AS gap
  FROM request_keys
) g
WHERE gap IS NOT NULL
GROUP BY account_id
"""

# Requests per active hour: peak and dispersion (bursts of scripted traffic).
ACCOUNT_HOURLY = """
SELECT account_id,
  max(c) AS peak_hour_requests,
  avg(c * 1.0) AS mean_hour_requests
FROM (
  SELECT account_id, CAST(floor(ts_ms / 3600000.0) AS BIGINT) AS h, count(*) AS c
  FROM request_keys GROUP BY account_id, CAST(floor(ts_ms / 3600000.0) AS BIGINT)
) x
GROUP BY account_id
"""

# Normalised Shannon entropy of a categorical column per account (0 = one value, 1 = uniform).
# {col} is a column expression of request_keys, {k} the number of possible values.
ACCOUNT_ENTROPY = """
SELECT account_id,
  -sum(p * ln(p)) / ln({k}) AS {name}_entropy,
  max(p) AS {name}_top_share
FROM (
  SELECT account_id, v,
         c * 1.0 / sum(c) OVER (PARTITION BY account_id) AS p
  FROM (
    SELECT account_id, {col} AS v, count(*) AS c
    FROM request_keys GROUP BY account_id, {col}
  ) a
) b
GROUP BY account_id
"""
HOUR_OF_DAY_EXPR = (
    "CAST(floor(ts_ms / 3600000.0) AS BIGINT) - CAST(floor(ts_ms / 86400000.0) AS BIGINT) * 24"
)

# Per model: when it first appeared and how much traffic it has (to find the newest model).
MODEL_FIRST_SEEN = """
SELECT model, min(ts_ms) AS first_ts, count(*) AS n, count(DISTINCT account_id) AS n_accounts
FROM request_keys GROUP BY model
"""
PERIOD = "SELECT min(ts_ms) AS start_ms, max(ts_ms) AS end_ms, count(*) AS n FROM request_keys"

# Model pivot: how much of the account's traffic in the first {window_ms} after the newest
# model's release went to it, and when the account first used it.
ACCOUNT_PIVOT = """
SELECT account_id,
  sum(CASE WHEN ts_ms >= {release_ms} AND ts_ms < {release_ms} + {window_ms} THEN 1 ELSE 0 END)
    AS pivot_window_requests,
  sum(CASE WHEN ts_ms >= {release_ms} AND ts_ms < {release_ms} + {window_ms}
            AND model = '{model}' THEN 1 ELSE 0 END) AS pivot_new_requests,
  min(CASE WHEN model = '{model}' THEN ts_ms ELSE NULL END) AS pivot_first_new_ts
FROM request_keys
GROUP BY account_id
"""

# An account's owner, the one rule batch and Spark share (payment rings here, coordination edges,
# harvest circles): its organisation as ``'org:' || org_id`` when the operator's account table
# (docs/CONTRACT.md §2, never a request field) names one that at least one account passed
# ``business`` verification in, else no row (the account is its own owner: callers coalesce).
# Why verified: an organisation is free to declare (self-serve orgs), so a ring declaring one
# would erase its own links; a business verification ties the org to a legal entity (KYB).
ACCOUNT_OWNER = """
SELECT m.account_id AS account_id, min(concat('org:', m.org_id)) AS owner
FROM account_meta m JOIN (
  SELECT org_id FROM account_meta
  WHERE org_id IS NOT NULL AND verification = 'business' GROUP BY org_id
) vo ON m.org_id = vo.org_id
GROUP BY m.account_id
"""

# Payment rings: on each card, how many distinct owners pay (``ACCOUNT_OWNER``). Accounts of
# one verified organisation sharing a card is normal; unrelated accounts sharing one is a ring.
ACCOUNT_PAYMENT = """
SELECT c.account_id AS account_id, max(o.n_owners) AS card_owners, max(o.n_accounts) AS card_accounts
FROM (
  SELECT DISTINCT account_id, payment FROM (
    SELECT account_id, payment FROM request_keys WHERE payment IS NOT NULL
    UNION ALL
    SELECT account_id, payment_fingerprint AS payment FROM account_meta
    WHERE payment_fingerprint IS NOT NULL
  ) u
) c
JOIN (
  SELECT x.payment AS payment, count(DISTINCT coalesce(w.owner, x.account_id)) AS n_owners,
         count(DISTINCT x.account_id) AS n_accounts
  FROM (
    SELECT account_id, payment FROM request_keys WHERE payment IS NOT NULL
    UNION ALL
    SELECT account_id, payment_fingerprint AS payment FROM account_meta
    WHERE payment_fingerprint IS NOT NULL
  ) x
  LEFT JOIN (OWNER_SQL) w ON x.account_id = w.account_id
  GROUP BY x.payment
) o ON c.payment = o.payment
GROUP BY c.account_id
""".replace("OWNER_SQL", ACCOUNT_OWNER)

# One row per account: everything joined. Absent parts come out NULL and are filled in Python.
ACCOUNT_FEATURES = """
SELECT b.*,
  g.gap_mean_ms, g.gap_sd_ms,
  h.peak_hour_requests, h.mean_hour_requests,
  hd.hod_entropy, hd.hod_top_share,
  cap.cap_entropy, cap.cap_top_share,
  tp.tpl_top_share,
  mt.mt_top_share,
  p.pivot_window_requests, p.pivot_new_requests, p.pivot_first_new_ts,
  pay.card_owners, pay.card_accounts,
  m.created_ms, m.signup_route, m.verification, m.email_domain,
  m.payment_fingerprint AS account_payment, m.org_id AS org_id
FROM account_base b
LEFT JOIN account_gaps g ON b.account_id = g.account_id
LEFT JOIN account_hourly h ON b.account_id = h.account_id
LEFT JOIN account_hod hd ON b.account_id = hd.account_id
LEFT JOIN account_cap cap ON b.account_id = cap.account_id
LEFT JOIN account_tpl tp ON b.account_id = tp.account_id
LEFT JOIN account_mt mt ON b.account_id = mt.account_id
LEFT JOIN account_pivot p ON b.account_id = p.account_id
LEFT JOIN account_payment pay ON b.account_id = pay.account_id
LEFT JOIN account_meta m ON b.account_id = m.account_id
"""


def render(sql: str, **values: object) -> str:
    """Fill the braces of a definition (values are numbers or vetted identifiers)."""
    return sql.format(**values)
