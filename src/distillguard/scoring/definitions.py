"""Request-level scoring as a named SQL string (DuckDB/Spark common subset).

A request's risk combines what its own text shows (noisy-OR of the weighted ``sig_*`` scores),
whether it uses a template its coordinated cluster shares (the campaign's templates), and the
risk of the account that sent it. In a mixed account (a reseller carrying both harvest and
genuine customer traffic) the genuine requests carry neither signals nor campaign templates, so
they stay low while the harvest requests score high.

Inputs: ``request_keys`` (with the sig_* columns), ``score_accounts``
(account_id, risk, verdict, cluster_id, rotation, pivot, affinity: the account's evidence
strengths), ``cluster_templates`` (cluster_id, template, risk) and ``attack_templates``
(template, cluster_id, risk: templates characteristic of attack clusters).
"""

from __future__ import annotations

REQUEST_SCORES = """
SELECT request_id, account_id,
  (1.0 - (1.0 - p_text) * (1.0 - p_tpl) * (1.0 - p_infra) * (1.0 - p_pivot))
    * ({floor} + (1.0 - {floor}) * acc_risk) AS risk,
  CASE WHEN cluster_tpl IS NULL THEN signal_hits
       WHEN signal_hits IS NULL OR signal_hits = '' THEN concat('campaign_template:', cluster_tpl)
       ELSE concat(signal_hits, '|campaign_template:', cluster_tpl) END AS signals
FROM (
  SELECT k.request_id AS request_id, k.account_id AS account_id, k.signal_hits AS signal_hits,
    1.0 - (1.0 - {w_cot} * k.sig_cot) * (1.0 - {w_rubric} * k.sig_rubric)
        * (1.0 - {w_synth} * k.sig_synth) * (1.0 - {w_format} * k.sig_format)
        * (1.0 - {w_rewrite} * k.sig_rewrite) AS p_text,
    -- Its own cluster's campaign templates, or (for an account outside attack clusters that
    -- leans on them) templates characteristic of an attack cluster.
    coalesce(ct.risk, atp.risk, 0.0) * {w_template} AS p_tpl,
    -- In an account that rotates through proxy networks, a request from an address (or a
    -- network) the account used only once is a proxy-pool request; a turn of a conversation
    -- (a later user turn, or one of several requests of one client session) is the
    -- customer's own traffic far more often.
    coalesce(a.rotation, 0.0)
      * ({w_ip_once} * (CASE WHEN k.ip_uses = 1 THEN 1.0 ELSE 0.0 END)
         + {w_net_once} * (CASE WHEN k.net_uses = 1 THEN 1.0 ELSE 0.0 END))
      * (CASE WHEN k.n_user_turns > 1 OR k.session_n > 1 THEN {followup} ELSE 1.0 END) AS p_infra,
    -- In an account that pivoted to the new model at once, its new-model requests.
    CASE WHEN k.model = '{new_model}' THEN {w_pivot} * coalesce(a.pivot, 0.0) ELSE 0.0 END AS p_pivot,
    coalesce(a.risk, 0.0) AS acc_risk,
    coalesce(ct.cluster_id, atp.cluster_id) AS cluster_tpl,
    k.harvest AS harvest,
    a.verdict AS verdict
  FROM (
    SELECT request_id, account_id, signal_hits, sig_cot, sig_rubric, sig_synth, sig_format,
           sig_rewrite, template, harvest, model, n_user_turns,
           count(*) OVER (PARTITION BY account_id, ip) AS ip_uses,
           count(*) OVER (PARTITION BY account_id, coalesce(asn, prefix, ip)) AS net_uses,
           CASE WHEN session_id IS NULL THEN 1
                ELSE count(*) OVER (PARTITION BY account_id, session_id) END AS session_n
    FROM request_keys
  ) k
  LEFT JOIN score_accounts a ON k.account_id = a.account_id
  LEFT JOIN cluster_templates ct ON a.cluster_id = ct.cluster_id AND k.template = ct.template
  LEFT JOIN attack_templates atp ON a.affinity > 0 AND k.template = atp.template
) x
WHERE harvest >= {thr} OR cluster_tpl IS NOT NULL OR verdict <> 'benign'
"""

# Example requests behind each flagged account's evidence: strongest signals first. The
# outer ORDER BY keeps that order in the result (a window's order is not the output order).
EXAMPLE_REQUESTS = """
SELECT account_id, request_id FROM (
  SELECT k.account_id AS account_id, k.request_id AS request_id,
         row_number() OVER (PARTITION BY k.account_id ORDER BY k.harvest DESC, k.ts_ms, k.request_id) AS rn
  FROM request_keys k JOIN flagged_accounts f ON k.account_id = f.account_id
) x WHERE rn <= {max_refs}
ORDER BY account_id, rn
"""

# The capability mix of each cluster's traffic.
CLUSTER_CAPABILITIES = """
SELECT m.cluster_id AS cluster_id, k.capability AS capability, count(*) AS n
FROM request_keys k JOIN cluster_members m ON k.account_id = m.account_id
GROUP BY m.cluster_id, k.capability
"""

# Templates characteristic of attack clusters: used by at least {min_accounts} accounts, at
# least {min_share} of them members of attack-verdict clusters (``attack_members``:
# account_id, cluster_id, risk). A popular template a benign crowd also sends fails the share
# test however many attackers use it. The cluster named is the one with most users of it.
ATTACK_TEMPLATES = """
SELECT template, cluster_id, risk, deg, n_attack FROM (
  SELECT t.template AS template, c.cluster_id AS cluster_id, c.risk AS risk, t.deg AS deg,
         t.n_attack AS n_attack,
         row_number() OVER (PARTITION BY t.template ORDER BY c.n DESC, c.cluster_id) AS rn
  FROM (
    SELECT u.template AS template, count(*) AS deg, count(m.cluster_id) AS n_attack
    FROM (SELECT DISTINCT account_id, template FROM request_keys WHERE template IS NOT NULL) u
    LEFT JOIN attack_members m ON u.account_id = m.account_id
    GROUP BY u.template
  ) t
  LEFT JOIN (
    SELECT u.template AS template, m.cluster_id AS cluster_id, max(m.risk) AS risk, count(*) AS n
    FROM (SELECT DISTINCT account_id, template FROM request_keys WHERE template IS NOT NULL) u
    JOIN attack_members m ON u.account_id = m.account_id
    GROUP BY u.template, m.cluster_id
  ) c ON t.template = c.template
  WHERE t.deg >= {min_accounts} AND t.n_attack >= {min_share} * t.deg
) x WHERE rn = 1
"""

# Per account outside attack clusters: its requests on those templates (n_affine), how many
# point to each cluster (n_cluster), and up to {max_refs} of the request ids (refs), earliest
# first (ORDER BY: the refs are listed in the result's order).
TEMPLATE_AFFINITY = """
SELECT account_id, cluster_id, request_id, n_affine, n_cluster FROM (
  SELECT k.account_id AS account_id, a.cluster_id AS cluster_id, k.request_id AS request_id,
         count(*) OVER (PARTITION BY k.account_id) AS n_affine,
         count(*) OVER (PARTITION BY k.account_id, a.cluster_id) AS n_cluster,
         row_number() OVER (PARTITION BY k.account_id ORDER BY k.ts_ms, k.request_id) AS rn
  FROM request_keys k JOIN attack_templates a ON k.template = a.template
  WHERE k.account_id NOT IN (SELECT account_id FROM attack_members)
) x WHERE rn <= {max_refs}
ORDER BY account_id, rn
"""

# The learned request model's inputs (``scoring.request_model``), one row per request. Each
# reads the request against its own account (how much of the account's other traffic shares
# its template, address, user agent, session, parameters, hour; where its harvest signal and
# output length rank inside the account) or against the deployment (whether its template is
# a campaign template of its cluster or of an attack cluster), never an absolute count of one
# world. (How many accounts send a template is left out: a benign crowd shares greetings.)
# Shares are leave-one-out, (requests sharing the key - 1) / (account requests - 1): a
# one-off reads 0 in an account of any size (a plain share, 1/n, told the model the
# account's volume, and it learned the simulator's account sizes). Left out as well: the
# account's volume and its traffic mix (signal, multi-turn and no-session shares), which
# cannot tell one request of the account from another and only set a prior fitted to the
# simulator's mix of pure and mixed accounts; and the shares of country and API key, which a
# log without those fields turns into a share of 1 (measured: 70-75% precision on the
# labelled-traffic generator with them, 99% without; BENCHMARKS, request level).
# The request's own text signals and conversation depth come as they are. Inputs as
# REQUEST_SCORES; ``requests`` adds the sampling parameters.
# ``{candidates}``: which accounts' requests (a condition on ``a``, the score_accounts row).
# Per-account counts are GROUP BY aggregates joined back (NULL keys match by IS NOT DISTINCT
# FROM, as in a window's PARTITION BY), not one window per key: each window re-partitions every
# column of every row (2.5x the CPU on medium). LEFT JOINs, since with inner joins DuckDB's
# join-order optimizer joined the aggregates to each other on account_id first (a blow-up).
# Per-account counts of the requests sharing each key of ``q``: (alias, key column).
_ACCOUNT_KEYS = (
    ("tpl_n", "template"), ("ip_n", "ip"), ("net_n", "net"), ("ua_n", "ua"),
    ("params_n", "params"), ("model_n", "model"), ("cap_n", "capability"),
    ("hour_n", "hour3"), ("sess_n", "session_id"),
)
_KEY_COUNT_COLUMNS = ", ".join(f"{a}.n AS {a}" for a, _ in _ACCOUNT_KEYS)
_KEY_COUNT_JOINS = "\n".join(
    f"  LEFT JOIN (SELECT account_id, {k} AS g, count(*) AS n FROM q GROUP BY account_id, {k}) {a}"
    f"\n    ON {a}.account_id = w.account_id AND {a}.g IS NOT DISTINCT FROM w.{k}"
    for a, k in _ACCOUNT_KEYS
)
# Each request's percent_rank() within its account, ORDER BY the column: (rows of the account
# below its value) / (rows - 1), 0 for a one-request account, as percent_rank defines it
# (DuckDB and Spark docs). Ranked over the account's distinct values, counted by a GROUP BY,
# and joined back: three windows over every request sorted every row three times (~40% of
# the query's time on medium). The integers are exact, so the doubles are percent_rank's.
_RANK_SQL = """
  LEFT JOIN (
    SELECT account_id, v,
      CASE WHEN n > 1 THEN CAST(below AS DOUBLE) / CAST(n - 1 AS DOUBLE) ELSE 0.0 END AS r
    FROM (
      SELECT account_id, v,
        sum(c) OVER (PARTITION BY account_id ORDER BY v
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - c AS below,
        sum(c) OVER (PARTITION BY account_id) AS n
      FROM (SELECT account_id, {col} AS v, count(*) AS c FROM q GROUP BY account_id, {col}) g
    ) s
  ) {a} ON {a}.account_id = w.account_id AND {a}.v IS NOT DISTINCT FROM w.{col}"""
_RANK_JOINS = "".join(
    _RANK_SQL.format(col=col, a=a)
    for a, col in (("hr", "harvest"), ("outr", "output_tokens"), ("mtr", "max_tokens"))
)
REQUEST_INPUTS = """
WITH q AS (
  SELECT k.request_id AS request_id, k.account_id AS account_id, k.template AS template,
    k.ip AS ip, coalesce(k.asn, k.prefix, k.ip) AS net, k.ua AS ua, k.session_id AS session_id,
    k.model AS model, k.capability AS capability, k.harvest AS harvest,
    k.sig_cot AS sig_cot, k.sig_rubric AS sig_rubric, k.sig_synth AS sig_synth,
    k.sig_format AS sig_format, k.sig_rewrite AS sig_rewrite,
    k.n_user_turns AS n_user_turns, k.is_reasoning AS is_reasoning,
    k.output_tokens AS output_tokens, k.max_tokens AS max_tokens,
    concat(coalesce(CAST(r.max_tokens AS STRING), '-'), '|',
           coalesce(CAST(r.temperature AS STRING), '-'), '|',
           coalesce(CAST(r.stream AS STRING), '-')) AS params,
    CAST(floor((k.ts_ms - CAST(floor(k.ts_ms / 86400000.0) AS BIGINT) * 86400000) / 10800000.0)
         AS BIGINT) AS hour3,
    ct.risk AS campaign_tpl,
    atp.risk AS attack_tpl,
    coalesce(a.rotation, 0.0) AS rotation,
    coalesce(a.pivot, 0.0) AS acc_pivot
  FROM request_keys k
  JOIN requests r ON k.request_id = r.request_id
  LEFT JOIN score_accounts a ON k.account_id = a.account_id
  LEFT JOIN cluster_templates ct ON a.cluster_id = ct.cluster_id AND k.template = ct.template
  LEFT JOIN attack_templates atp ON k.template = atp.template
  WHERE {candidates}
)
SELECT request_id, account_id,
  harvest, sig_cot, sig_rubric, sig_synth, sig_format, sig_rewrite,
  CAST(n_user_turns AS DOUBLE) AS n_user_turns,
  CAST(is_reasoning AS DOUBLE) AS is_reasoning,
  CASE WHEN template IS NULL THEN 0.0
       ELSE (tpl_n - 1) * 1.0 / greatest(n_acc - 1, 1) END AS template_share,
  (ip_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS ip_share,
  (net_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS network_share,
  (ua_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS user_agent_share,
  (params_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS params_share,
  (model_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS model_share,
  (cap_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS capability_share,
  (hour_n - 1) * 1.0 / greatest(n_acc - 1, 1) AS hour_share,
  CASE WHEN session_id IS NULL THEN 0.0
       ELSE (sess_n - 1) * 1.0 / greatest(n_acc - 1, 1) END AS session_share,
  CAST(CASE WHEN session_id IS NULL THEN 1 ELSE 0 END AS DOUBLE) AS no_session,
  harvest_rank,
  output_rank,
  max_tokens_rank,
  coalesce(campaign_tpl, 0.0) AS campaign_template,
  coalesce(attack_tpl, 0.0) AS attack_template,
  rotation,
  CASE WHEN model = '{new_model}' THEN acc_pivot ELSE 0.0 END AS new_model_pivot
FROM (
  SELECT w.*, c.n_acc,
    hr.r AS harvest_rank, outr.r AS output_rank, mtr.r AS max_tokens_rank,
    """ + _KEY_COUNT_COLUMNS + """
  FROM q w
""" + _RANK_JOINS + """
  LEFT JOIN (
    SELECT account_id, count(*) AS n_acc FROM q GROUP BY account_id
  ) c ON c.account_id = w.account_id
""" + _KEY_COUNT_JOINS + """
) x
"""

# Request risk with the learned model: the account's risk times the request's P(harvest)
# (``request_harvest``: request_id, p_harvest). A request the model did not score (its account
# is below the candidates' risk) keeps its own text signal as P(harvest). Written: the
# scored requests and any carrying a signal or a campaign template, as REQUEST_SCORES.
LEARNED_REQUEST_SCORES = """
SELECT request_id, account_id, risk,
  CASE WHEN cluster_tpl IS NULL THEN signal_hits
       WHEN signal_hits IS NULL OR signal_hits = '' THEN concat('campaign_template:', cluster_tpl)
       ELSE concat(signal_hits, '|campaign_template:', cluster_tpl) END AS signals
FROM (
  SELECT k.request_id AS request_id, k.account_id AS account_id, k.signal_hits AS signal_hits,
    coalesce(a.risk, 0.0) * coalesce(h.p_harvest, k.harvest) AS risk,
    coalesce(ct.cluster_id, atp.cluster_id) AS cluster_tpl,
    h.request_id AS scored, k.harvest AS harvest
  FROM request_keys k
  LEFT JOIN score_accounts a ON k.account_id = a.account_id
  LEFT JOIN request_harvest h ON k.request_id = h.request_id
  LEFT JOIN cluster_templates ct ON a.cluster_id = ct.cluster_id AND k.template = ct.template
  LEFT JOIN attack_templates atp ON a.affinity > 0 AND k.template = atp.template
) x
WHERE scored IS NOT NULL OR harvest >= {thr} OR cluster_tpl IS NOT NULL
"""

# Each account's comparable-cohort keys (``scoring.model.cohort_levels``): the access route
# kind most of its requests took (`access_route` is `direct`, `cloud:<platform>` or
# `reseller:<name>`, docs/CONTRACT.md §1; ties go to the earlier of direct, cloud, reseller)
# and its client kind: `browser` when most of its requests carry a browser user agent, else
# `program` (SDKs, HTTP libraries, CLIs, agents). Browsers send the "Mozilla/5.0" product
# token first for compatibility (MDN, "User-Agent" header; RFC 9110 §10.1.5 product tokens);
# programs name themselves. NULL where the log has no route (or no user agent).
ACCOUNT_COHORT_KEYS = """
SELECT account_id,
  CASE WHEN n_direct + n_cloud + n_reseller = 0 THEN NULL
       WHEN n_direct >= n_cloud AND n_direct >= n_reseller THEN 'direct'
       WHEN n_cloud >= n_reseller THEN 'cloud' ELSE 'reseller' END AS route_kind,
  CASE WHEN n_ua = 0 THEN NULL WHEN 2 * n_browser > n_ua THEN 'browser'
       ELSE 'program' END AS client_kind
FROM (
  SELECT account_id,
    sum(CASE WHEN access_route = 'direct' THEN 1 ELSE 0 END) AS n_direct,
    sum(CASE WHEN access_route LIKE 'cloud:%' THEN 1 ELSE 0 END) AS n_cloud,
    sum(CASE WHEN access_route LIKE 'reseller:%' THEN 1 ELSE 0 END) AS n_reseller,
    sum(CASE WHEN user_agent IS NOT NULL AND user_agent <> '' THEN 1 ELSE 0 END) AS n_ua,
    sum(CASE WHEN user_agent LIKE 'Mozilla/%' THEN 1 ELSE 0 END) AS n_browser
  FROM requests
  GROUP BY account_id
) x
"""


# The Python twin of ACCOUNT_COHORT_KEYS, for the online path that counts one request at a
# time (online/state.py): the same per-request classes and the same majority rule, tested
# equal to the SQL on the same requests (tests/online/test_online_cohort.py).
COHORT_COUNTS = ("n_direct", "n_cloud", "n_reseller", "n_ua", "n_browser")


def request_cohort_counts(access_route: str | None, user_agent: str | None) -> tuple[int, ...]:
    """What one request adds to each of :data:`COHORT_COUNTS` (the SQL's CASE WHENs)."""
    route = access_route or ""
    ua = user_agent or ""
    return (
        int(route == "direct"),
        int(route.startswith("cloud:")),
        int(route.startswith("reseller:")),
        int(ua != ""),
        int(ua.startswith("Mozilla/")),  # LIKE is case-sensitive in DuckDB and Spark
    )


def cohort_keys(
    n_direct: float, n_cloud: float, n_reseller: float, n_ua: float, n_browser: float
) -> tuple[str | None, str | None]:
    """An account's ``(route_kind, client_kind)`` from its :data:`COHORT_COUNTS`, as
    :data:`ACCOUNT_COHORT_KEYS` gives them (None: NULL)."""
    if n_direct + n_cloud + n_reseller == 0:
        route = None
    elif n_direct >= n_cloud and n_direct >= n_reseller:
        route = "direct"
    else:
        route = "cloud" if n_cloud >= n_reseller else "reseller"
    client = None if n_ua == 0 else ("browser" if 2 * n_browser > n_ua else "program")
    return route, client
