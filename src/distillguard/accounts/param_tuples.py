"""Shared request-parameter tuples: one harness's settings behind many accounts.

A request's tuple is (max_tokens, temperature, reasoning effort, stream, system prompt, client
family). A job run through many keys sends one configured tuple from every account; people
and products vary theirs, and a client's defaults (nothing set) say nothing, so a dominant
tuple with neither max_tokens nor temperature set counts no peers. Blocked by the tuple
itself: one GROUP BY, no pairs. (The tool set is not in the tuple: list columns stay out of
the portable SQL; the system prompt usually carries the agent's tools.)
"""

from __future__ import annotations

from .units import EvidenceUnit

PARAM_TUPLES = """
SELECT account_id, tuple, explicit, count(*) AS c
FROM (
  SELECT account_id,
    concat(CAST(max_tokens AS STRING), '|', coalesce(CAST(temperature AS STRING), '-'), '|',
           coalesce(reasoning_setting, '-'), '|', coalesce(stream, '-'), '|',
           coalesce(sys_key, '-'), '|', coalesce(lower(split_part(ua, '/', 1)), '-')) AS tuple,
    CASE WHEN max_tokens >= 0 OR temperature IS NOT NULL THEN 1 ELSE 0 END AS explicit
  FROM request_keys
) t
GROUP BY account_id, tuple, explicit
"""

# Each account's most used tuple (ties: the smaller tuple string).
PARAM_DOMINANT = """
SELECT account_id, tuple, explicit
FROM (
  SELECT account_id, tuple, explicit,
         row_number() OVER (PARTITION BY account_id ORDER BY c DESC, tuple) AS rk
  FROM param_tuples
) r
WHERE rk = 1
"""

ACCOUNT_PARAM_TUPLE = """
SELECT p.account_id AS account_id,
  CASE WHEN p.explicit = 1 THEN g.n - 1 ELSE 0 END AS param_tuple_peers
FROM param_dominant p
JOIN (SELECT tuple, count(*) AS n FROM param_dominant GROUP BY tuple) g ON p.tuple = g.tuple
"""


class SharedParameters(EvidenceUnit):
    """Per account: how many other accounts have the same dominant, explicitly set parameter
    tuple (``param_tuple_peers``).

    How consistently one account keeps its settings is left out on purpose: it is the
    attacker's to choose either way, and a campaign that varies its settings would read as
    benign to a monotone model."""

    name = "shared_parameters"
    columns = {"param_tuple_peers": 0.0}

    def sql(self) -> dict[str, str]:
        return {
            "param_tuples": PARAM_TUPLES,
            "param_dominant": PARAM_DOMINANT,
            "account_param_tuple": ACCOUNT_PARAM_TUPLE,
        }
