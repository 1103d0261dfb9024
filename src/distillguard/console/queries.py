"""Read-only queries over the findings store, shared by ``report.html`` and the web console.

Every function takes a DuckDB connection (or cursor) whose current database holds the store's
tables, plus a :class:`Schema` saying which tables and columns exist, so a store without an
optional table (``accounts``, ``ip_intel``, ``evidence``...) still renders. All aggregation
runs in DuckDB; only bounded results (top-N rows, per-hour buckets) come back to Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from ..contract import SIGNAL_COLUMNS

HOUR_MS = 3_600_000
# What a cluster row shows, wherever clusters are listed.
_CLUSTER_COLUMNS = (
    "CAST(cluster_id AS VARCHAR) AS cluster_id, n_accounts, risk, verdict, capabilities, reasons"
)

# Graph edge kinds grouped into the evidence classes reviewers read (issue 5: infrastructure,
# template, timing, payment). Unknown kinds fall into "other" rather than failing.
EDGE_CATEGORY: dict[str, str] = {
    "ip": "infrastructure",
    "prefix24": "infrastructure",
    "prefix24_ua": "infrastructure",
    "asn": "infrastructure",
    "asn_ua": "infrastructure",
    "user_agent": "infrastructure",
    "payment": "payment",
    "payment_fingerprint": "payment",
    "template": "template",
    "system_prompt": "template",
    "template_window": "timing",
    "pivot": "timing",
    "model_pivot": "timing",
    "timing": "timing",
}


def edge_category(kind: str) -> str:
    """The evidence class of a graph edge kind."""
    return EDGE_CATEGORY.get(str(kind), "other")


class Schema:
    """Which tables and columns the current database of ``con`` has."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = current_schema()"
        ).fetchall()
        self.columns: dict[str, set[str]] = {}
        for table, column in rows:
            self.columns.setdefault(table, set()).add(column)

    def has(self, table: str, column: str | None = None) -> bool:
        cols = self.columns.get(table)
        if cols is None:
            return False
        return column is None or column in cols

    def cols(self, table: str) -> set[str]:
        return self.columns.get(table, set())


def rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[dict]:
    """Run ``sql`` and return every row as a dict."""
    cur = con.execute(sql, list(params or []))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    """The first column of the first row (or None)."""
    out = con.execute(sql, list(params or [])).fetchall()
    return out[0][0] if out else None


# ---- subjects ---------------------------------------------------------------------------------
def members_sql(schema: Schema) -> str:
    """SQL yielding the ``account_id`` of one cluster's members; one ``?`` for the cluster id."""
    if schema.has("cluster_members"):
        return "SELECT account_id FROM cluster_members WHERE CAST(cluster_id AS VARCHAR) = ?"
    return "SELECT account_id FROM out_accounts WHERE CAST(cluster_id AS VARCHAR) = ?"


def signal_score_sql(schema: Schema, alias: str = "") -> str:
    """An expression for a request's strongest text signal (0 when the store has none)."""
    p = f"{alias}." if alias else ""
    cols = [c for c in SIGNAL_COLUMNS if schema.has("requests", c)]
    if not cols:
        return "0.0"
    return "greatest(" + ", ".join(f"coalesce({p}{c}, 0)" for c in cols) + ")"


def cluster_row(con: duckdb.DuckDBPyConnection, schema: Schema, cluster_id: str) -> dict | None:
    if not schema.has("out_clusters"):
        return None
    out = rows(
        con,
        f"SELECT {_CLUSTER_COLUMNS} FROM out_clusters WHERE CAST(cluster_id AS VARCHAR) = ?",
        [cluster_id],
    )
    return out[0] if out else None


def top_clusters(con: duckdb.DuckDBPyConnection, schema: Schema, limit: int = 20) -> list[dict]:
    """Clusters by risk, non-benign first."""
    if not schema.has("out_clusters"):
        return []
    return rows(
        con,
        f"SELECT {_CLUSTER_COLUMNS} FROM out_clusters "
        "ORDER BY (verdict = 'benign'), risk DESC, cluster_id LIMIT ?",
        [int(limit)],
    )


def top_accounts(con: duckdb.DuckDBPyConnection, schema: Schema, limit: int = 25) -> list[dict]:
    if not schema.has("out_accounts"):
        return []
    return rows(
        con,
        "SELECT account_id, risk, verdict, CAST(cluster_id AS VARCHAR) AS cluster_id, reasons "
        "FROM out_accounts WHERE verdict <> 'benign' ORDER BY risk DESC, account_id LIMIT ?",
        [int(limit)],
    )


def members(
    con: duckdb.DuckDBPyConnection, schema: Schema, cluster_id: str, limit: int = 500
) -> list[dict]:
    """Member accounts of a cluster with their risk, highest first."""
    if schema.has("out_accounts"):
        return rows(
            con,
            f"SELECT m.account_id, o.risk, o.verdict, o.reasons FROM ({members_sql(schema)}) m "
            "LEFT JOIN out_accounts o USING (account_id) "
            "ORDER BY o.risk DESC NULLS LAST, m.account_id LIMIT ?",
            [cluster_id, int(limit)],
        )
    return rows(con, members_sql(schema) + " ORDER BY account_id LIMIT ?", [cluster_id, int(limit)])


# ---- graph ------------------------------------------------------------------------------------
def cluster_graph(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    cluster_id: str,
    max_accounts: int = 120,
    max_keys: int = 120,
) -> dict:
    """The account–key star graph of a cluster, capped to the riskiest accounts and the keys
    they share most (a key linking only one shown account says nothing about coordination)."""
    accts = members(con, schema, cluster_id, limit=max_accounts)
    if not accts or not schema.has("graph_edges"):
        return {"accounts": accts, "keys": [], "edges": []}
    ids = [a["account_id"] for a in accts]
    keys = rows(
        con,
        "SELECT key_kind, CAST(key AS VARCHAR) AS key, count(DISTINCT account_id) AS n, "
        "max(weight) AS weight FROM graph_edges WHERE list_contains(?, account_id) "
        "GROUP BY key_kind, key HAVING count(DISTINCT account_id) >= ? "
        "ORDER BY count(DISTINCT account_id) * max(weight) DESC, key LIMIT ?",
        [ids, 2 if len(ids) > 1 else 1, int(max_keys)],
    )
    if not keys:
        return {"accounts": accts, "keys": [], "edges": []}
    edges = rows(
        con,
        "SELECT e.account_id, e.key_kind, CAST(e.key AS VARCHAR) AS key, e.weight "
        "FROM graph_edges e JOIN (SELECT unnest(?) AS key_kind, unnest(?) AS key) k "
        "ON e.key_kind = k.key_kind AND CAST(e.key AS VARCHAR) = k.key "
        "WHERE list_contains(?, e.account_id)",
        [[k["key_kind"] for k in keys], [k["key"] for k in keys], ids],
    )
    return {"accounts": accts, "keys": keys, "edges": edges}


def shared_indicators(
    con: duckdb.DuckDBPyConnection, schema: Schema, cluster_id: str, limit: int = 40
) -> list[dict]:
    """Keys (IP ranges, ASNs, payment, templates, system prompts...) shared by members."""
    if not schema.has("graph_edges"):
        return []
    out = rows(
        con,
        f"SELECT key_kind, CAST(key AS VARCHAR) AS key, count(DISTINCT account_id) AS n_accounts, "
        f"max(weight) AS weight FROM graph_edges WHERE account_id IN ({members_sql(schema)}) "
        "GROUP BY key_kind, key HAVING count(DISTINCT account_id) >= 2 "
        "ORDER BY n_accounts DESC, weight DESC, key LIMIT ?",
        [cluster_id, int(limit)],
    )
    for r in out:
        r["category"] = edge_category(r["key_kind"])
    return out


def network_summary(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    account_sql: str,
    params: Sequence[Any],
    limit: int = 12,
) -> list[dict]:
    """Requests by /24, ASN and IP kind for a set of accounts (needs ``ip_intel``)."""
    ipc = schema.cols("ip_intel")
    if not ipc or "ip" not in ipc or not schema.has("requests", "ip"):
        return []
    # Column names differ a little between store versions; show whichever are there.
    pick = [
        c
        for c in ("prefix", "prefix24", "asn", "asn_org", "provider", "ip_kind", "kind", "country")
        if c in ipc
    ]
    if not pick:
        return []
    sel = ", ".join(f"i.{c}" for c in pick)
    return rows(
        con,
        f"SELECT {sel}, count(*) AS n_requests, count(DISTINCT r.account_id) AS n_accounts "
        f"FROM requests r JOIN ip_intel i ON r.ip = i.ip WHERE r.account_id IN ({account_sql}) "
        f"GROUP BY {sel} ORDER BY n_requests DESC LIMIT ?",
        [*params, int(limit)],
    )


# ---- volume, capability, prompts ----------------------------------------------------------------
def hourly_volume(
    con: duckdb.DuckDBPyConnection, schema: Schema, account_sql: str, params: Sequence[Any]
) -> list[dict]:
    """Requests per hour and model for a set of accounts (the model pivot shows as a switch)."""
    if not schema.has("requests"):
        return []
    return rows(
        con,
        f"SELECT CAST(floor(ts_ms / {HOUR_MS}) AS BIGINT) * {HOUR_MS} AS hour_ms, model, "
        f"count(*) AS n FROM requests WHERE account_id IN ({account_sql}) "
        "GROUP BY ALL ORDER BY hour_ms, model",
        list(params),
    )


def clusters_hourly_volume(
    con: duckdb.DuckDBPyConnection, schema: Schema, cluster_ids: list[str]
) -> list[dict]:
    """Requests per hour and model for several clusters at once (one scan of ``requests``)."""
    if not cluster_ids or not schema.has("requests"):
        return []
    mtable = "cluster_members" if schema.has("cluster_members") else "out_accounts"
    return rows(
        con,
        f"SELECT CAST(m.cluster_id AS VARCHAR) AS cluster_id, "
        f"CAST(floor(r.ts_ms / {HOUR_MS}) AS BIGINT) * {HOUR_MS} AS hour_ms, r.model, "
        f"count(*) AS n FROM requests r JOIN {mtable} m USING (account_id) "
        "WHERE list_contains(?, CAST(m.cluster_id AS VARCHAR)) GROUP BY ALL "
        "ORDER BY cluster_id, hour_ms, model",
        [cluster_ids],
    )


def capability_mix(
    con: duckdb.DuckDBPyConnection, schema: Schema, cluster_ids: list[str]
) -> list[dict]:
    """Requests per capability for each cluster."""
    if not cluster_ids or not schema.has("requests", "capability"):
        return []
    mtable = "cluster_members" if schema.has("cluster_members") else "out_accounts"
    return rows(
        con,
        "SELECT CAST(m.cluster_id AS VARCHAR) AS cluster_id, "
        "coalesce(r.capability, 'other') AS capability, count(*) AS n "
        f"FROM requests r JOIN {mtable} m USING (account_id) "
        "WHERE list_contains(?, CAST(m.cluster_id AS VARCHAR)) GROUP BY ALL "
        "ORDER BY cluster_id, n DESC",
        [cluster_ids],
    )


def account_capability_mix(
    con: duckdb.DuckDBPyConnection, schema: Schema, account_id: str
) -> list[dict]:
    if not schema.has("requests", "capability"):
        return []
    return rows(
        con,
        "SELECT coalesce(capability, 'other') AS capability, count(*) AS n FROM requests "
        "WHERE account_id = ? GROUP BY ALL ORDER BY n DESC",
        [account_id],
    )


def _rank_sql(schema: Schema) -> tuple[str, str]:
    """(score expression, dedup partition) for picking example requests."""
    rc = schema.cols("requests")
    part = "r.skeleton_hash" if "skeleton_hash" in rc else "r.request_id"
    return signal_score_sql(schema, "r"), part


def _fetch_examples(
    con: duckdb.DuckDBPyConnection, schema: Schema, picked: list[dict], with_text: bool = True
) -> list[dict]:
    """Full rows (text, model, template...) for a few picked requests, in picked order.

    Picking reads only light columns over the subject's requests; the heavy text column is
    then read by ``rowid`` for a handful of rows, which skips straight to their vectors
    (a filter on ``request_id`` would decompress most of the text column on a cold cache).
    Without ``with_text`` (prompts redacted anyway) the text column is not touched at all."""
    if not picked:
        return []
    rc = schema.cols("requests")
    has_text = "prompt_text" in rc
    text = "r.prompt_text" if has_text and with_text else "NULL::VARCHAR"
    # Whether text was retained is only known when it is read: ``IS NULL`` on the text
    # column costs as much as reading it, so redacted views leave it unknown (NULL).
    missing = (
        "(r.prompt_text IS NULL)"
        if has_text and with_text
        else ("NULL::BOOLEAN" if has_text else "true")
    )
    nchars = (
        "r.prompt_chars"
        if "prompt_chars" in rc
        else ("length(r.prompt_text)" if has_text else "NULL::INTEGER")
    )
    hits = "r.signal_hits" if "signal_hits" in rc else "NULL::VARCHAR"
    cap = "r.capability" if "capability" in rc else "NULL::VARCHAR"
    skel = "r.skeleton_hash" if "skeleton_hash" in rc else "NULL::UBIGINT"
    rids = [int(p["rid"]) for p in picked]
    found = rows(
        con,
        f"SELECT r.rowid AS rid, r.request_id, r.account_id, r.ts_ms, r.model, "
        f"{cap} AS capability, {hits} AS signal_hits, {text} AS prompt_text, "
        f"{nchars} AS prompt_chars, {missing} AS text_missing, {skel} AS skeleton_hash "
        "FROM requests r "
        f"WHERE r.rowid IN ({', '.join('?' * len(rids))})",
        rids,
    )
    tids: dict[Any, str] = {}
    skels = sorted({f["skeleton_hash"] for f in found if f["skeleton_hash"] is not None})
    if skels and schema.has("templates", "template_id"):
        tids = dict(
            con.execute(
                "SELECT skeleton_hash, any_value(CAST(template_id AS VARCHAR)) FROM templates "
                f"WHERE skeleton_hash IN ({', '.join('?' * len(skels))}) GROUP BY skeleton_hash",
                skels,
            ).fetchall()
        )
    by_rid = {f["rid"]: f for f in found}
    out = []
    for p in picked:
        f = by_rid.get(p["rid"])
        if f is not None:
            f = {k: v for k, v in f.items() if k not in ("rid", "skeleton_hash")} | {
                "template_id": tids.get(f["skeleton_hash"]),
                "score": p["score"],
            }
            out.append(f)
    return out


def example_prompts(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    account_sql: str,
    params: Sequence[Any],
    limit: int = 6,
    with_text: bool = True,
) -> list[dict]:
    """The most signal-heavy requests of a set of accounts, one per prompt skeleton, so the
    examples show the different templates instead of six copies of one. ``with_text=False``
    leaves ``prompt_text`` out (cheaper; for redacted views)."""
    if not schema.has("requests"):
        return []
    score, part = _rank_sql(schema)
    picked = rows(
        con,
        f"SELECT r.rowid AS rid, r.request_id, {score} AS score FROM requests r "
        f"WHERE r.account_id IN ({account_sql}) "
        f"QUALIFY row_number() OVER (PARTITION BY {part} ORDER BY {score} DESC, r.request_id) = 1 "
        "ORDER BY score DESC, r.request_id LIMIT ?",
        [*params, int(limit)],
    )
    return _fetch_examples(con, schema, picked, with_text)


def examples_by_account(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    account_ids: list[str],
    per_account: int = 2,
    with_text: bool = True,
) -> dict[str, list[dict]]:
    """Top example prompts (distinct skeletons) of several accounts in one scan."""
    if not account_ids or not schema.has("requests"):
        return {}
    score, part = _rank_sql(schema)
    picked = rows(
        con,
        f"SELECT rid, request_id, account_id, score FROM (SELECT r.rowid AS rid, r.request_id, "
        f"r.account_id, {score} AS score FROM requests r WHERE list_contains(?, r.account_id) "
        f"QUALIFY row_number() OVER (PARTITION BY r.account_id, {part} "
        f"ORDER BY {score} DESC, r.request_id) = 1) "
        "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY score DESC, request_id) <= ? "
        "ORDER BY account_id, score DESC, request_id",
        [list(account_ids), int(per_account)],
    )
    out: dict[str, list[dict]] = {a: [] for a in account_ids}
    for r in _fetch_examples(con, schema, picked, with_text):
        out[r["account_id"]].append(r)
    return out


# ---- accounts -----------------------------------------------------------------------------------
def account_row(con: duckdb.DuckDBPyConnection, schema: Schema, account_id: str) -> dict | None:
    """The account's findings row, joined with its account-table row when there is one."""
    out: dict[str, Any] = {}
    if schema.has("out_accounts"):
        r = rows(
            con,
            "SELECT account_id, risk, verdict, CAST(cluster_id AS VARCHAR) AS cluster_id, reasons "
            "FROM out_accounts WHERE account_id = ?",
            [account_id],
        )
        if r:
            out.update(r[0])
    if schema.has("accounts"):
        r = rows(con, "SELECT * FROM accounts WHERE account_id = ? LIMIT 1", [account_id])
        if r:
            out["profile"] = {k: v for k, v in r[0].items() if k != "account_id"}
    if not out and schema.has("requests"):
        if scalar(con, "SELECT count(*) FROM requests WHERE account_id = ?", [account_id]):
            out["account_id"] = account_id
    return out or None


def evidence_for(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    subject_kind: str,
    subject_id: str,
    limit: int = 20,
) -> list[dict]:
    """The evidence that raised the subject's risk, strongest first (what lowered it:
    :func:`lowered_reasons`)."""
    if not schema.has("evidence"):
        return []
    return rows(
        con,
        "SELECT source, weight, summary, CAST(refs AS VARCHAR) AS refs FROM evidence "
        "WHERE subject_kind = ? AND CAST(subject_id AS VARCHAR) = ? "
        f"AND source NOT LIKE '{LOWERED_PREFIX}%' "
        "ORDER BY weight DESC LIMIT ?",
        [subject_kind, subject_id, int(limit)],
    )


# What lowered an account's risk: ``evidence`` rows with this source prefix, their weight the
# risk the evidence took away (scoring.analyze).
LOWERED_PREFIX = "lowered:"


def lowered_reasons(
    con: duckdb.DuckDBPyConnection, schema: Schema, account_ids: Sequence[str], top: int = 5
) -> dict[str, list[dict]]:
    """Per account, the evidence that lowered its risk (``evidence``, ``weight``: the risk it
    took away, ``summary``), strongest first; an account without any is left out."""
    if not (schema.has("evidence") and account_ids):
        return {}
    got = rows(
        con,
        f"SELECT CAST(subject_id AS VARCHAR) AS account_id, "
        f"substr(source, {len(LOWERED_PREFIX) + 1}) AS evidence, weight, summary FROM evidence "
        f"WHERE subject_kind = 'account' AND source LIKE '{LOWERED_PREFIX}%' "
        "AND CAST(subject_id AS VARCHAR) IN (SELECT unnest(?)) "
        "QUALIFY row_number() OVER (PARTITION BY subject_id ORDER BY weight DESC, source) <= ? "
        "ORDER BY account_id, weight DESC, evidence",
        [list(account_ids), int(top)],
    )
    out: dict[str, list[dict]] = {}
    for r in got:
        out.setdefault(r.pop("account_id"), []).append(r)
    return out


def fingerprint_percentiles(
    con: duckdb.DuckDBPyConnection, schema: Schema, account_id: str
) -> list[dict]:
    """Each numeric fingerprint feature of an account with its percentile in the population
    (mid-rank, so ties sit in the middle), in one scan of ``account_features``."""
    if not schema.has("account_features", "account_id"):
        return []
    types = rows(
        con,
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = current_schema() AND table_name = 'account_features'",
    )
    numeric = [
        t["column_name"]
        for t in types
        if t["column_name"] != "account_id"
        and any(k in t["data_type"].upper() for k in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL"))
        and not _is_timestamp_column(t["column_name"])
    ]
    if not numeric:
        return []
    me = rows(
        con,
        "SELECT "
        + ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in numeric)
        + " FROM account_features WHERE account_id = ? LIMIT 1",
        [account_id],
    )
    if not me:
        return []
    vals = me[0]
    parts = []
    args: list[Any] = []
    for c in numeric:
        if vals[c] is None:
            parts.append(f'NULL AS "{c}"')
            continue
        parts.append(
            f'avg(CASE WHEN CAST("{c}" AS DOUBLE) < ? THEN 1.0 '
            f'WHEN CAST("{c}" AS DOUBLE) = ? THEN 0.5 ELSE 0.0 END) AS "{c}"'
        )
        args += [vals[c], vals[c]]
    pct = rows(con, "SELECT " + ", ".join(parts) + " FROM account_features", args)[0]
    return [
        {"feature": c, "value": vals[c], "percentile": None if pct[c] is None else 100 * pct[c]}
        for c in numeric
    ]


def _is_timestamp_column(name: str) -> bool:
    """Absolute times (first/last request, sign-up) are not behaviour: no percentile for them."""
    return name in ("first_ts", "last_ts", "created_ms", "created_at") or name.endswith(
        ("_ts", "_ts_ms", "_first_new_ts")
    )


def linked_accounts(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    account_id: str,
    limit: int = 20,
    max_key_degree: int = 5000,
) -> list[dict]:
    """Accounts sharing graph keys with this one, strongest shared weight first. Keys shared by
    more than ``max_key_degree`` accounts (a big ISP) are skipped: they link everyone."""
    if not schema.has("graph_edges"):
        return []
    return rows(
        con,
        "WITH mine AS (SELECT key_kind, key, weight FROM graph_edges WHERE account_id = ?), "
        "deg AS (SELECT e.key_kind, e.key, count(*) AS d FROM graph_edges e "
        "  JOIN mine USING (key_kind, key) GROUP BY ALL HAVING count(*) <= ?) "
        "SELECT e.account_id, string_agg(DISTINCT e.key_kind, ', ') AS via, "
        "count(*) AS n_keys, sum(least(e.weight, mine.weight)) AS strength "
        "FROM graph_edges e JOIN mine USING (key_kind, key) JOIN deg USING (key_kind, key) "
        "WHERE e.account_id <> ? GROUP BY e.account_id ORDER BY strength DESC, e.account_id "
        "LIMIT ?",
        [account_id, int(max_key_degree), account_id, int(limit)],
    )


def account_requests(
    con: duckdb.DuckDBPyConnection,
    schema: Schema,
    account_id: str,
    limit: int = 20,
    with_text: bool = True,
) -> list[dict]:
    """The account's most signal-heavy requests (for the account page's example table)."""
    return example_prompts(con, schema, "SELECT ?", [account_id], limit=limit, with_text=with_text)


# ---- quarantine ---------------------------------------------------------------------------------
def quarantine_summary(con: duckdb.DuckDBPyConnection, schema: Schema, examples: int = 5) -> dict:
    """Counts by reason and the first few quarantined records."""
    if not schema.has("quarantine"):
        return {"total": 0, "by_reason": [], "examples": []}
    by_reason = rows(
        con, "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY n DESC, reason"
    )
    qc = schema.cols("quarantine")
    order = "source_file, line" if {"source_file", "line"} <= qc else "reason"
    sel = ", ".join(c for c in ("source_file", "line", "reason", "raw") if c in qc)
    ex = rows(con, f"SELECT {sel} FROM quarantine ORDER BY {order} LIMIT ?", [int(examples)])
    return {"total": sum(r["n"] for r in by_reason), "by_reason": by_reason, "examples": ex}


def store_counts(con: duckdb.DuckDBPyConnection, schema: Schema) -> dict:
    """Headline counts for the report and the console header."""
    out: dict[str, Any] = {}
    if schema.has("requests"):
        out["requests"] = scalar(con, "SELECT count(*) FROM requests")
    if schema.has("out_accounts"):
        by = dict(
            con.execute("SELECT verdict, count(*) FROM out_accounts GROUP BY verdict").fetchall()
        )
        out["accounts"] = sum(by.values())
        for verdict in ("attack", "review", "benign"):
            out[f"accounts_{verdict}"] = by.get(verdict, 0)
    if schema.has("out_clusters"):
        out["clusters"] = scalar(con, "SELECT count(*) FROM out_clusters")
        out["clusters_attack"] = scalar(
            con, "SELECT count(*) FROM out_clusters WHERE verdict = 'attack'"
        )
    return out
