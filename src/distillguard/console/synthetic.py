"""A synthetic findings store, generated in DuckDB SQL, for console tests and benchmarks.

It has the same tables ``distillguard detect --store DIR`` writes (``requests``, ``accounts``,
``account_features``, ``graph_edges``, ``cluster_members``, ``evidence``, ``out_*``,
``quarantine``, ``templates``, ``ip_intel``) with a few coordinated clusters and many benign
accounts, so the console and the report can be exercised and timed at 100k accounts without
running the detector. Prompt text comes from the caller (real corpora text in tests); without
it, short generated prompts are used.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

_FALLBACK_BENIGN = [
    "Can you help me write a birthday message for my sister?",
    "What is the difference between a list and a tuple in Python?",
    "Summarise the plot of Hamlet in three sentences.",
    "How do I make a sourdough starter?",
]
_FALLBACK_ATTACK = [
    "Solve the following problem. Think step by step and show all of your reasoning: {x}",
    "Rate the answer below on a scale of 1-10 using the rubric, explain each score: {x}",
    "Generate 20 diverse question/answer pairs as JSONL for training a model about {x}",
]

CAPABILITIES = ("math", "code", "agentic", "data_analysis", "chat", "other")


def build_synthetic_store(
    path: Path,
    n_accounts: int = 400,
    n_clusters: int = 4,
    cluster_size: int = 12,
    requests_per_account: int = 8,
    hours: int = 72,
    benign_texts: list[str] | None = None,
    attack_texts: list[str] | None = None,
    seed: float = 0.42,
) -> Path:
    """Write ``path/store.duckdb`` and return its path.

    Accounts ``0 .. n_clusters*cluster_size-1`` are attack accounts in ``n_clusters``
    clusters that share an IP range, a payment fingerprint and a template, pivot from
    ``model-a`` to ``model-b`` half-way, and send 3x the volume; the rest are benign.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    db = path / "store.duckdb"
    if db.exists():
        db.unlink()
    n_attack = min(n_clusters * cluster_size, n_accounts)
    benign = [t for t in (benign_texts or _FALLBACK_BENIGN) if t] or _FALLBACK_BENIGN
    attack = [t for t in (attack_texts or _FALLBACK_ATTACK) if t] or _FALLBACK_ATTACK
    con = duckdb.connect(str(db))
    try:
        con.execute("SET enable_progress_bar = false").fetchall()
        con.execute(f"SELECT setseed({float(seed)})").fetchall()
        con.register(
            "benign_texts",
            pa.table({"idx": list(range(len(benign))), "txt": benign}),
        )
        con.register(
            "attack_texts",
            pa.table({"idx": list(range(len(attack))), "txt": attack}),
        )
        p = {
            "n": int(n_accounts),
            "na": int(n_attack),
            "cs": max(int(cluster_size), 1),
            "rpa": max(int(requests_per_account), 1),
            "span": int(hours) * 3_600_000,
            "t0": 1_767_225_600_000,  # 2026-01-01T00:00:00Z
            "nb": len(benign),
            "nt": len(attack),
        }
        _build(con, p)
    finally:
        con.close()
    return db


def _build(con: duckdb.DuckDBPyConnection, p: dict) -> None:
    # hash() is UBIGINT; list indexes and arithmetic want BIGINT.
    con.execute(
        "CREATE TEMP MACRO hb(a, b, c := '') AS CAST(hash(a, b, c) % 1000000007 AS BIGINT)"
    )
    for sql in [*_account_tables(p), *_request_tables(p), *_graph_tables(), *_findings_tables(p)]:
        con.execute(sql)
    con.execute("DROP TABLE acc")


def _account_tables(p: dict) -> list[str]:
    """``acc`` (the work table of who is who) and ``accounts``."""
    n, na, cs, t0 = p["n"], p["na"], p["cs"], p["t0"]
    return [
        f"""
        CREATE TABLE acc AS
        SELECT i,
               'acct_' || lpad(CAST(i AS VARCHAR), 6, '0') AS account_id,
               i < {na} AS is_attack,
               CASE WHEN i < {na} THEN 'c' || lpad(CAST(i // {cs} AS VARCHAR), 3, '0') END
                   AS cluster_id,
               i // {cs} AS c
        FROM range({n}) t(i)
        """,
        f"""
        CREATE TABLE accounts AS
        SELECT account_id,
               make_timestamp(CAST(({t0} - 86400000 * (1 + hb(i, 'age') % 400)) * 1000 AS BIGINT))
                   AS created_at,
               CASE WHEN is_attack THEN ['education', 'research', 'startup'][1 + c % 3]
                    ELSE ['standard', 'standard', 'enterprise', 'education', 'startup']
                         [1 + hb(i, 'route') % 5] END AS signup_route,
               CASE WHEN is_attack THEN 'email'
                    ELSE ['email', 'phone', 'id', 'business'][1 + hb(i, 'ver') % 4] END
                   AS verification,
               CASE WHEN is_attack THEN 'mail' || c || '.example'
                    ELSE ['gmail.com', 'outlook.com', 'corp.example'][1 + hb(i, 'dom') % 3] END
                   AS email_domain,
               CASE WHEN is_attack THEN 'pay_c' || c ELSE 'pay_' || i END AS payment_fingerprint,
               CASE WHEN is_attack THEN 'SG' ELSE ['US', 'DE', 'FR', 'JP', 'BR'][1 + i % 5] END
                   AS country,
               NULL::VARCHAR AS org_id
        FROM acc
        """,
    ]


def _request_tables(p: dict) -> list[str]:
    """``requests`` and what is derived from them alone."""
    return [_requests_sql(p), _TEMPLATES_SQL, _IP_INTEL_SQL, _ACCOUNT_FEATURES_SQL]


def _requests_sql(p: dict) -> str:
    """Attack accounts send 3x the volume, in bursts, with a model pivot half-way."""
    rpa, span, t0, nb, nt = p["rpa"], p["span"], p["t0"], p["nb"], p["nt"]
    return f"""
        CREATE TABLE requests AS
        WITH r AS (
            SELECT a.*, k,
                   CASE WHEN a.is_attack
                        THEN {t0} + (c % 5) * 3600000 + CAST(k * ({span} / 2) / ({rpa} * 3) AS BIGINT)
                             + CAST(hb(i, k, 'jit') % 600000 AS BIGINT)
                        ELSE {t0} + CAST(hb(i, k, 'ts') % {span} AS BIGINT) END AS ts_ms
            FROM acc a, range(CASE WHEN a.is_attack THEN {rpa} * 3 ELSE {rpa} END) t(k)
        )
        SELECT 'req_' || i || '_' || k AS request_id,
               ts_ms, r.account_id,
               CASE WHEN is_attack AND k >= {rpa} * 3 / 2 THEN 'model-b'
                    WHEN is_attack THEN 'model-a'
                    ELSE ['model-a', 'model-a', 'model-b', 'model-mini'][1 + hb(i, k, 'm') % 4] END
                   AS model,
               NULL::VARCHAR AS org_id,
               'key_' || i AS api_key_id,
               CASE WHEN is_attack THEN NULL ELSE 's_' || i || '_' || (k // 3) END AS session_id,
               CASE WHEN is_attack THEN '203.0.' || (113 + c % 100) || '.' || (1 + i % 250)
                    ELSE '198.' || (i % 250) || '.' || ((i // 250) % 250) || '.' || (1 + i % 200) END
                   AS ip,
               CASE WHEN is_attack THEN 'python-httpx/0.27.0'
                    ELSE ['Mozilla/5.0 (Windows NT 10.0)', 'openai-python/1.40.0',
                          'Mozilla/5.0 (Macintosh)'][1 + hb(i, 'ua') % 3] END AS user_agent,
               CASE WHEN is_attack THEN 'SG' ELSE 'US' END AS country,
               CASE WHEN is_attack THEN 'pay_c' || c ELSE 'pay_' || i END AS payment_fingerprint,
               CASE WHEN is_attack THEN 'direct' ELSE 'direct' END AS access_route,
               CAST(CASE WHEN is_attack THEN 4096 ELSE 1024 END AS DOUBLE) AS max_tokens,
               0.7 AS temperature,
               CASE WHEN is_attack THEN 'high' END AS reasoning,
               false AS stream,
               CAST(20 + hb(i, k, 'in') % 400 AS BIGINT) AS input_tokens,
               CAST(CASE WHEN is_attack THEN 1500 ELSE 200 END + hb(i, k, 'out') % 300 AS BIGINT)
                   AS output_tokens,
               NULL::BIGINT AS reasoning_tokens,
               200 AS status,
               800.0 AS latency_ms,
               CASE WHEN is_attack THEN 1 ELSE 1 + CAST(k % 3 AS INTEGER) END AS n_messages,
               CASE WHEN is_attack THEN 1 ELSE 1 + CAST(k % 3 AS INTEGER) END AS n_user_turns,
               CASE WHEN is_attack
                    THEN (SELECT txt FROM attack_texts WHERE idx = (c + k) % {nt})
                    ELSE (SELECT txt FROM benign_texts WHERE idx = hb(i, k, 'p') % {nb}) END
                   AS prompt_text,
               CASE WHEN is_attack THEN 'You are a meticulous expert. Answer in JSON.' END
                   AS system_text,
               CASE WHEN is_attack THEN ['math', 'code', 'data_analysis'][1 + (c + k) % 3]
                    ELSE ['chat', 'chat', 'code', 'other', 'math'][1 + hb(i, k, 'cap') % 5] END
                   AS capability,
               CAST(CASE WHEN is_attack THEN 0.6 + (hb(i, k) % 40) / 100.0 ELSE 0 END AS FLOAT)
                   AS sig_cot,
               CAST(CASE WHEN is_attack AND c % 2 = 1 THEN 0.8 ELSE 0 END AS FLOAT) AS sig_rubric,
               CAST(CASE WHEN is_attack AND c % 3 = 2 THEN 0.7 ELSE 0 END AS FLOAT) AS sig_synth,
               CAST(0 AS FLOAT) AS sig_format,
               CAST(0 AS FLOAT) AS sig_rewrite,
               CASE WHEN is_attack THEN 'cot_elicitation:step by step' END AS signal_hits,
               'latin' AS script,
               hash(i, k, 'ph') AS prompt_hash,
               CASE WHEN is_attack THEN hash(c, 'sys') ELSE CAST(0 AS UBIGINT) END AS system_hash,
               CASE WHEN is_attack THEN hash(c, (c + k) % {nt}, 'skel') ELSE hash(i, k, 'skel') END
                   AS skeleton_hash,
               'synthetic' AS source_file,
               CAST(k AS BIGINT) AS source_line
        FROM r
        """


_TEMPLATES_SQL = """
    CREATE TABLE templates AS
    SELECT skeleton_hash, 'tpl_' || row_number() OVER (ORDER BY skeleton_hash) AS template_id
    FROM (SELECT DISTINCT skeleton_hash FROM requests
          WHERE account_id IN (SELECT account_id FROM acc WHERE is_attack))
    """

_IP_INTEL_SQL = """
    CREATE TABLE ip_intel AS
    SELECT ip,
           split_part(ip, '.', 1) || '.' || split_part(ip, '.', 2) || '.'
               || split_part(ip, '.', 3) || '.0/24' AS prefix,
           CASE WHEN ip LIKE '203.%' THEN 'SG' ELSE 'US' END AS country,
           CASE WHEN ip LIKE '203.%' THEN 'AS64500' ELSE 'AS7922' END AS asn,
           CASE WHEN ip LIKE '203.%' THEN 'datacenter' ELSE 'residential' END AS ip_kind,
           CASE WHEN ip LIKE '203.%' THEN 'ExampleCloud' ELSE 'ExampleISP' END AS provider
    FROM (SELECT DISTINCT ip FROM requests)
    """

_ACCOUNT_FEATURES_SQL = """
    CREATE TABLE account_features AS
    SELECT r.account_id,
           count(*) AS n_requests,
           count(*) / greatest((max(ts_ms) - min(ts_ms)) / 3600000.0, 1.0) AS req_per_hour,
           min(ts_ms) AS first_ts_ms, max(ts_ms) AS last_ts_ms,
           count(DISTINCT ip) AS distinct_ips,
           avg(CASE WHEN ip LIKE '203.%' THEN 1.0 ELSE 0.0 END) AS datacenter_ip_share,
           avg(output_tokens) / greatest(avg(input_tokens), 1) AS out_in_ratio,
           avg(n_user_turns) AS mean_user_turns,
           avg(sig_cot) AS mean_sig_cot,
           count(DISTINCT capability) AS distinct_capabilities,
           avg(max_tokens) AS mean_max_tokens,
           CASE WHEN bool_or(a.is_attack) THEN 1.0 ELSE 0.0 END AS model_pivot
    FROM requests r JOIN acc a USING (account_id)
    GROUP BY r.account_id
    """


def _graph_tables() -> list[str]:
    """Clusters and the coordination graph's edges."""
    return [
        """
        CREATE TABLE cluster_members AS
        SELECT account_id, cluster_id FROM acc WHERE is_attack
        """,
        # Star edges: attack accounts share a /24+UA, a payment fingerprint, a template and a
        # system prompt; benign accounts have their own IP and some share a popular system prompt.
        """
        CREATE TABLE graph_edges AS
        SELECT account_id, 'prefix24_ua' AS key_kind,
               '203.0.' || (113 + c % 100) || '.0/24|python-httpx' AS key, 0.6 AS weight
        FROM acc WHERE is_attack
        UNION ALL
        SELECT account_id, 'payment', 'pay_c' || c, 0.9 FROM acc WHERE is_attack
        UNION ALL
        SELECT account_id, 'template', 'tpl_c' || c, 0.7 FROM acc WHERE is_attack
        UNION ALL
        SELECT account_id, 'system_prompt', 'sys_c' || c, 0.5 FROM acc WHERE is_attack
        UNION ALL
        SELECT account_id, 'template_window', 'tpl_c' || c || '@w' || (c % 5), 0.8
        FROM acc WHERE is_attack
        UNION ALL
        SELECT account_id, 'pivot', 'model-a>model-b@c' || c, 0.4 FROM acc WHERE is_attack
        UNION ALL
        SELECT account_id, 'ip', '198.' || (i % 250) || '.' || ((i // 250) % 250) || '.'
               || (1 + i % 200), 0.05
        FROM acc WHERE NOT is_attack
        UNION ALL
        SELECT account_id, 'system_prompt', 'sys_popular_helpful_assistant', 0.01
        FROM acc WHERE NOT is_attack AND i % 7 = 0
        """,
    ]


def _findings_tables(p: dict) -> list[str]:
    """The ``out_*`` findings, their evidence and a few quarantined lines."""
    cs = p["cs"]
    return [
        """
        CREATE TABLE out_accounts AS
        SELECT account_id,
               CASE WHEN is_attack THEN 0.80 + (hb(i, 'risk') % 19) / 100.0
                    WHEN i % 50 = 1 THEN 0.45 + (hb(i, 'risk') % 20) / 100.0
                    ELSE (hb(i, 'risk') % 35) / 100.0 END AS risk,
               CASE WHEN is_attack THEN 'attack' WHEN i % 50 = 1 THEN 'review' ELSE 'benign' END
                   AS verdict,
               cluster_id,
               CASE WHEN is_attack
                    THEN 'shares payment fingerprint with ' || 0 || ' accounts; chain-of-thought elicitation in most requests; model pivot'
                    WHEN i % 50 = 1 THEN 'high volume from data-centre IPs'
                    ELSE '' END AS reasons
        FROM acc
        """,
        f"""
        UPDATE out_accounts SET reasons = replace(reasons, 'with 0 accounts',
            'with {cs - 1} accounts') WHERE verdict = 'attack'
        """,
        """
        CREATE TABLE out_clusters AS
        SELECT cluster_id, count(*) AS n_accounts,
               max(o.risk) AS risk, 'attack' AS verdict,
               (SELECT string_agg(capability, ',' ORDER BY capability)
                FROM (SELECT DISTINCT capability FROM requests q
                      WHERE q.account_id IN (SELECT account_id FROM cluster_members m
                                             WHERE m.cluster_id = a.cluster_id))) AS capabilities,
               'accounts share a payment fingerprint and a /24 with the same client; '
               || 'same template in the same hour windows; synchronised model pivot' AS reasons
        FROM acc a JOIN out_accounts o USING (account_id, cluster_id)
        WHERE a.is_attack
        GROUP BY cluster_id
        """,
        """
        CREATE TABLE out_requests AS
        SELECT request_id, account_id, greatest(sig_cot, sig_rubric, sig_synth) AS risk,
               signal_hits AS signals
        FROM requests WHERE signal_hits IS NOT NULL
        """,
        """
        CREATE TABLE evidence AS
        SELECT 'cluster' AS subject_kind, cluster_id AS subject_id, 'graph:shared_payment' AS source,
               0.9 AS weight, n_accounts || ' accounts pay with the same card' AS summary,
               '' AS refs
        FROM out_clusters
        UNION ALL
        SELECT 'cluster', cluster_id, 'graph:template_window', 0.8,
               'the same prompt template in the same hour windows', '' FROM out_clusters
        UNION ALL
        SELECT 'account', account_id, 'signal:cot_elicitation', 0.7,
               'chain-of-thought elicitation in most requests', '' FROM acc WHERE is_attack
        UNION ALL
        SELECT 'account', account_id, 'account:pivot', 0.4,
               'switched from model-a to model-b with its cluster', '' FROM acc WHERE is_attack
        """,
        """
        CREATE TABLE quarantine AS
        SELECT 'logs/day1.jsonl' AS source_file, CAST(10 + k * 37 AS BIGINT) AS line,
               ['missing_field:account_id', 'bad_timestamp', 'wrong_type:messages'][1 + k % 3]
                   AS reason,
               '{"request_id": "bad' || k || '"}' AS raw
        FROM range(7) t(k)
        """,
    ]
