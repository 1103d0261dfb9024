"""Check the scoring tables against the output contract, then write the output files.

``validate_outputs`` runs before anything is written: if an upstream stage broke the contract
(a missing column, a risk outside [0, 1], an unknown verdict, an account seen in the input
without a row, a row twice) it raises :class:`OutputContractError` naming the table and the
problem, and no half-valid findings are left behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

from .. import contract
from ..errors import DistillguardError
from ..scoring.reference import FILE_NAME as RISK_REFERENCE_FILE
from .base import Engine

NUMERIC = ("DOUBLE", "FLOAT", "REAL", "DECIMAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT",
           "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")
INTEGER = ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
           "USMALLINT", "UTINYINT")
STRING = ("VARCHAR",)

# Expected column kinds of the out_* tables; ``cluster_id`` may be text or an integer id.
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "out_accounts": {
        "account_id": STRING,
        "risk": NUMERIC,
        "verdict": STRING,
        "cluster_id": STRING + INTEGER,
        "reasons": STRING,
    },
    "out_clusters": {
        "cluster_id": STRING + INTEGER,
        "n_accounts": INTEGER,
        "risk": NUMERIC,
        "verdict": STRING,
        "capabilities": STRING,
        "reasons": STRING,
    },
    "out_requests": {
        "request_id": STRING,
        "account_id": STRING,
        "risk": NUMERIC,
        "signals": STRING,
    },
}
ORDER = {
    "out_accounts": contract.OUTPUT_ACCOUNT_COLUMNS,
    "out_clusters": contract.OUTPUT_CLUSTER_COLUMNS,
    "out_requests": contract.OUTPUT_REQUEST_COLUMNS,
}


# ``account_reasons.csv``: each account's evidence with its sign, what raised the risk (the
# flagged accounts' ``reasons``, weight > 0) and what lowered it (weight < 0, every account at
# half the review threshold or above), strongest first on each side.
# In ``evidence`` the sign is the source's prefix (``account:`` raised, ``lowered:`` lowered,
# scoring.analyze) and every weight is positive; here the weight carries the sign.
ACCOUNT_REASONS_SQL = (
    "SELECT CAST(subject_id AS VARCHAR) AS account_id, "
    "CASE WHEN source LIKE 'lowered:%' THEN '-' ELSE '+' END AS sign, "
    "split_part(source, ':', 2) AS evidence, "
    "CAST(round(CASE WHEN source LIKE 'lowered:%' THEN 0.0 - weight ELSE weight END, 4) "
    "AS DOUBLE) "
    "AS weight, summary AS reason "
    "FROM evidence WHERE subject_kind = 'account' "
    "AND (source LIKE 'account:%' OR source LIKE 'lowered:%') "
    "ORDER BY account_id, sign, abs(weight) DESC, evidence"
)


class OutputContractError(DistillguardError):
    """An upstream stage produced findings that break the output contract (a bug, not input)."""


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    return engine.fetch_arrow(sql).to_pylist()


def _scalar(engine: Engine, sql: str) -> Any:
    t = engine.fetch_arrow(sql)
    return t.column(0)[0].as_py() if t.num_rows else None


def _columns(engine: Engine, table: str) -> list[tuple[str, str]]:
    t = engine.fetch_arrow(f"SELECT * FROM {table} LIMIT 0")
    from_arrow = {
        "string": "VARCHAR", "large_string": "VARCHAR", "double": "DOUBLE", "float": "FLOAT",
        "int64": "BIGINT", "int32": "INTEGER", "int16": "SMALLINT", "int8": "TINYINT",
        "uint64": "UBIGINT", "uint32": "UINTEGER", "uint16": "USMALLINT", "uint8": "UTINYINT",
        "null": "NULL",
    }
    out = []
    for f in t.schema:
        name = str(f.type)
        kind = "DECIMAL" if name.startswith("decimal") else from_arrow.get(name, name.upper())
        out.append((f.name, kind))
    return out


def validate_outputs(engine: Engine) -> dict[str, int]:
    """Check ``out_accounts``, ``out_clusters``, ``out_requests``; return their row counts.

    Raises :class:`OutputContractError` on the first violation.
    """
    for table, expected in EXPECTED.items():
        _check_table(engine, table, expected)
    _check_account_rows(engine)
    _check_cluster_refs(engine)
    _check_request_rows(engine)
    return {
        t: int(_scalar(engine, f"SELECT count(*) FROM {t}") or 0) for t in EXPECTED
    }


def _fail(table: str, msg: str) -> NoReturn:
    raise OutputContractError(f"scoring produced an invalid {table}: {msg}")


def _check_table(engine: Engine, table: str, expected: dict[str, tuple[str, ...]]) -> None:
    """One out_* table alone: its columns, risk range, verdicts and key."""
    if not engine.has_table(table):
        _fail(table, "the table is missing")
    cols = _columns(engine, table)
    names = tuple(c for c, _ in cols)
    if names != ORDER[table]:
        _fail(table, f"columns {list(names)}, expected exactly {list(ORDER[table])}")
    for name, kind in cols:
        if kind != "NULL" and kind not in expected[name]:
            _fail(table, f"column {name} has type {kind}, expected one of {expected[name]}")
    bad = _scalar(
        engine,
        f"SELECT count(*) FROM {table} WHERE risk IS NULL OR NOT (risk >= 0 AND risk <= 1)",
    )
    if bad:
        _fail(table, f"{bad} row(s) with risk NULL or outside [0, 1]")
    if "verdict" in expected:
        _check_verdicts(engine, table)
    key = ORDER[table][0]
    dup = _rows(
        engine,
        f"SELECT {key} AS k, count(*) AS n FROM {table} GROUP BY {key} "
        f"HAVING count(*) > 1 OR {key} IS NULL LIMIT 3",
    )
    if dup:
        _fail(table, f"{key} NULL or repeated: {dup}")


def _check_verdicts(engine: Engine, table: str) -> None:
    allowed = ", ".join(f"'{v}'" for v in contract.VERDICTS)
    rows = _rows(
        engine,
        f"SELECT DISTINCT verdict FROM {table} WHERE verdict IS NULL "
        f"OR verdict NOT IN ({allowed}) LIMIT 5",
    )
    if rows:
        _fail(table, f"verdicts {[r['verdict'] for r in rows]} not in {contract.VERDICTS}")


def _check_account_rows(engine: Engine) -> None:
    """Exactly one accounts.csv row for every account seen in the input."""
    missing = _rows(
        engine,
        "SELECT DISTINCT r.account_id FROM requests r "
        "WHERE r.account_id NOT IN (SELECT account_id FROM out_accounts) LIMIT 5",
    )
    if missing:
        _fail("out_accounts", f"no row for account(s) seen in the input, e.g. {missing}")
    known = "SELECT account_id FROM requests"
    if engine.has_table("accounts"):
        known += " UNION SELECT account_id FROM accounts"
    extra = _rows(
        engine,
        f"SELECT account_id FROM out_accounts WHERE account_id NOT IN ({known}) LIMIT 5",
    )
    if extra:
        _fail("out_accounts", f"rows for accounts never seen in the input, e.g. {extra}")


def _check_cluster_refs(engine: Engine) -> None:
    """Every referenced cluster exists and its n_accounts matches its members."""
    orphan = _rows(
        engine,
        "SELECT DISTINCT CAST(cluster_id AS VARCHAR) AS c FROM out_accounts "
        "WHERE cluster_id IS NOT NULL AND CAST(cluster_id AS VARCHAR) <> '' "
        "AND CAST(cluster_id AS VARCHAR) NOT IN "
        "(SELECT CAST(cluster_id AS VARCHAR) FROM out_clusters) LIMIT 5",
    )
    if orphan:
        _fail("out_accounts", f"cluster_id(s) {orphan} missing from out_clusters")
    mismatch = _rows(
        engine,
        "SELECT CAST(c.cluster_id AS VARCHAR) AS cluster_id, c.n_accounts, "
        "coalesce(m.n, 0) AS members FROM out_clusters c LEFT JOIN ("
        "  SELECT CAST(cluster_id AS VARCHAR) AS cid, count(*) AS n FROM out_accounts"
        "  WHERE cluster_id IS NOT NULL GROUP BY 1) m ON m.cid = CAST(c.cluster_id AS VARCHAR) "
        "WHERE c.n_accounts IS NULL OR c.n_accounts <> coalesce(m.n, 0) LIMIT 3",
    )
    if mismatch:
        _fail("out_clusters", f"n_accounts differs from the accounts in the cluster: {mismatch}")


def _check_request_rows(engine: Engine) -> None:
    """Request-level rows point at stored requests of the same account."""
    stray = _scalar(
        engine,
        "SELECT count(*) FROM out_requests o WHERE NOT EXISTS (SELECT 1 FROM requests r "
        "WHERE r.request_id = o.request_id AND r.account_id = o.account_id)",
    )
    if stray:
        _fail("out_requests", f"{stray} row(s) whose (request_id, account_id) is not in the input")

def sql_path(p: Path) -> str:
    """A path as a SQL string literal (quotes doubled)."""
    return "'" + str(p).replace("'", "''") + "'"


def write_outputs(engine: Engine, out: Path) -> dict[str, Path]:
    """Write accounts.csv, clusters.csv and requests.parquet from the out_* tables.

    Needs a DuckDB engine (``engine.con``); files are written under a temporary name and
    renamed, so a reader never sees half a file.
    """
    con = getattr(engine, "con", None)
    if con is None:
        raise DistillguardError("write_outputs needs the embedded DuckDB engine")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    acc_cols = ", ".join(
        "CAST(round(risk, 6) AS DOUBLE) AS risk" if c == "risk"
        else "coalesce(CAST(cluster_id AS VARCHAR), '') AS cluster_id" if c == "cluster_id"
        else c
        for c in contract.OUTPUT_ACCOUNT_COLUMNS
    )
    clu_cols = ", ".join(
        "CAST(round(risk, 6) AS DOUBLE) AS risk" if c == "risk"
        else "CAST(cluster_id AS VARCHAR) AS cluster_id" if c == "cluster_id"
        else "CAST(n_accounts AS BIGINT) AS n_accounts" if c == "n_accounts"
        else c
        for c in contract.OUTPUT_CLUSTER_COLUMNS
    )
    req_cols = ", ".join(
        "CAST(risk AS DOUBLE) AS risk" if c == "risk" else c
        for c in contract.OUTPUT_REQUEST_COLUMNS
    )
    jobs = {
        "accounts.csv": (
            f"SELECT {acc_cols} FROM out_accounts ORDER BY risk DESC, account_id",
            "(HEADER, DELIMITER ',')",
        ),
        "clusters.csv": (
            f"SELECT {clu_cols} FROM out_clusters ORDER BY risk DESC, cluster_id",
            "(HEADER, DELIMITER ',')",
        ),
        "requests.parquet": (
            f"SELECT {req_cols} FROM out_requests ORDER BY risk DESC, request_id",
            "(FORMAT parquet, COMPRESSION zstd)",
        ),
    }
    if engine.has_table("signup_scores"):  # an account table was given (sign-up risk)
        jobs["signups.csv"] = (
            "SELECT account_id, signup_route, CAST(round(signup_risk, 4) AS DOUBLE) AS "
            "signup_risk, signup_action, signup_reasons FROM signup_scores "
            "ORDER BY signup_risk DESC, account_id",
            "(HEADER, DELIMITER ',')",
        )
    if engine.has_table("evidence"):  # optional (docs/CONTRACT.md): both signs of the reasons
        jobs["account_reasons.csv"] = (ACCOUNT_REASONS_SQL, "(HEADER, DELIMITER ',')")
    written: dict[str, Path] = {}
    for name, (sql, opts) in jobs.items():
        dest = out / name
        tmp = out / f".{name}.tmp"
        con.execute(f"COPY ({sql}) TO {sql_path(tmp)} {opts}")
        os.replace(tmp, dest)
        written[name] = dest
    if engine.has_table("risk_reference"):  # the deployment online scoring ranks against
        written[RISK_REFERENCE_FILE] = _write_reference(engine, out)
    return written


def _write_reference(engine: Engine, out: Path) -> Path:
    """``risk_reference.json``: the ``risk_reference`` table's one JSON document."""
    text = _scalar(engine, "SELECT reference FROM risk_reference LIMIT 1") or "{}"
    dest = out / RISK_REFERENCE_FILE
    tmp = out / f".{RISK_REFERENCE_FILE}.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, dest)
    return dest


def record_timings(
    summary: dict[str, Any], timings: dict[str, float], accepted: int, stored: int
) -> None:
    """``timings_s`` and ``throughput_rps`` of a run's summary (the same keys on every engine):
    ingest rate over the requests accepted this run, end to end over all stored requests."""
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    summary["throughput_rps"] = {
        "ingest": round(accepted / timings["ingest"], 1) if timings["ingest"] else None,
        "end_to_end": round(stored / timings["total"], 1) if timings["total"] else None,
    }


def write_summary(summary: dict[str, Any], out: Path) -> Path:
    """``summary.json`` (atomic write)."""
    dest = Path(out) / "summary.json"
    tmp = Path(out) / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, dest)
    return dest
