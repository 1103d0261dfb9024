"""Read a contract request log with DuckDB for the bench's peers (no whole-dataset pandas).

The bench must not depend on the batch detector's ingest (it measures it), so this module
holds its own small reader: it finds the log files of a data set and exposes one SQL
relation, ``requests``, with the few normalised columns the peers and metrics need. Records
missing a required field or with an unparsable time are left out (the detector's ingest is
the one that quarantines; peers only need the usable rows).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from ..errors import InvalidInputError

LOG_SUFFIXES: tuple[str, ...] = (".jsonl.gz", ".jsonl", ".json.gz", ".json", ".parquet")

# Input fields the bench reads, with the DuckDB type used when reading JSON Lines. Unknown
# fields are ignored by the reader (``columns=`` only extracts these keys).
_JSON_COLUMNS: dict[str, str] = {
    "request_id": "VARCHAR",
    "ts": "VARCHAR",
    "account_id": "VARCHAR",
    "model": "VARCHAR",
    "messages": "JSON",
    "system": "VARCHAR",
    "session_id": "VARCHAR",
    "api_key_id": "VARCHAR",
    "ip": "VARCHAR",
    "user_agent": "VARCHAR",
    "payment_fingerprint": "VARCHAR",
    "access_route": "VARCHAR",
    "tools": "JSON",
    "max_tokens": "DOUBLE",
    "reasoning": "VARCHAR",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
}


def _is_log(path: Path) -> bool:
    return path.is_file() and path.name.endswith(LOG_SUFFIXES)


def find_logs(data_dir: str | Path) -> list[Path]:
    """The request-log files of a simulator data set (``requests.*`` or a ``requests/`` folder).

    Raises :class:`InvalidInputError` when there is none.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InvalidInputError(f"data folder not found: {root}")
    found = sorted(p for p in root.glob("requests*") if _is_log(p))
    sub = root / "requests"
    if sub.is_dir():
        found += sorted(p for p in sub.rglob("*") if _is_log(p))
    if not found:
        raise InvalidInputError(
            f"no request log in {root}: expected requests.jsonl.gz, requests.jsonl or "
            "requests.parquet (or a requests/ folder of them)"
        )
    return found


def expand_logs(logs: list[str | Path]) -> list[Path]:
    """Files named directly, plus log files inside named folders."""
    out: list[Path] = []
    for item in logs:
        p = Path(item)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if _is_log(q))
        elif _is_log(p):
            out.append(p)
        else:
            raise InvalidInputError(f"not a request log file or folder: {p}")
    if not out:
        raise InvalidInputError("no request log files given")
    return out


def connect(memory_limit: str = "1GB", threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that spills to a temporary folder instead of swelling."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/distillguard-bench-spill'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")  # the bench draws its own (Rich) progress
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


def sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _raw_source(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> str:
    """SQL for the raw records with every bench column present (NULL when absent)."""
    parquet = [p for p in paths if p.name.endswith(".parquet")]
    jsonl = [p for p in paths if not p.name.endswith(".parquet")]
    parts: list[str] = []
    if jsonl:
        cols = ", ".join(f"'{k}': '{v}'" for k, v in _JSON_COLUMNS.items())
        parts.append(
            "SELECT " + ", ".join(_JSON_COLUMNS) + f" FROM read_json({sql_list(jsonl)}, "
            f"columns={{{cols}}}, format='newline_delimited', ignore_errors=true)"
        )
    if parquet:
        src = f"read_parquet({sql_list(parquet)}, union_by_name=true)"
        have = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
        exprs = []
        for name, typ in _JSON_COLUMNS.items():
            if name not in have:
                exprs.append(f"CAST(NULL AS {typ}) AS {name}")
            elif typ == "JSON":
                # Parquet stores messages/tools as nested types: one JSON form for both readers.
                exprs.append(f"CAST(to_json({name}) AS JSON) AS {name}")
            elif name == "ts" and "TIMESTAMP" in have[name].upper():
                exprs.append(f"CAST(epoch_ms({name}) AS VARCHAR) AS ts")
            elif have[name].upper() == "JSON":
                # A JSON scalar (e.g. ts mixing strings and integers): its unquoted text.
                exprs.append(f"TRY_CAST({name} ->> '$' AS {typ}) AS {name}")
            else:
                exprs.append(f"TRY_CAST({name} AS {typ}) AS {name}")
        parts.append("SELECT " + ", ".join(exprs) + f" FROM {src}")
    return " UNION ALL BY NAME ".join(f"({p})" for p in parts)


def requests_sql(con: duckdb.DuckDBPyConnection, logs: list[Path]) -> str:
    """A SELECT over the logs with the normalised columns the bench uses.

    Columns: ``request_id, account_id, ts_ms, model, prompt_text, system_text, session_id,
    api_key_id, ip, ip_prefix, user_agent, payment_fingerprint, access_route, n_tools,
    max_tokens, reasoning, input_tokens, output_tokens, reasoning_tokens, n_messages,
    n_user_turns``. ``prompt_text`` is the text of the last user turn (text parts joined).
    """
    raw = _raw_source(con, logs)
    return f"""
    WITH raw AS ({raw}),
    parsed AS (
      SELECT *,
        TRY_CAST(messages AS STRUCT(role VARCHAR, content JSON)[]) AS msgs,
        CASE WHEN regexp_full_match(ts, '-?[0-9]+') THEN TRY_CAST(ts AS BIGINT)
             ELSE epoch_ms(TRY_CAST(ts AS TIMESTAMPTZ)) END AS ts_ms
      FROM raw
    ),
    turns AS (
      SELECT *,
        list_filter(msgs, lambda x: x.role = 'user')[-1].content AS last_user,
        list_filter(msgs, lambda x: x.role = 'system')[1].content AS sys_msg
      FROM parsed
    )
    SELECT
      request_id, account_id, ts_ms, model,
      CASE WHEN json_type(last_user) = 'VARCHAR' THEN last_user ->> '$'
           ELSE array_to_string(json_extract_string(last_user, '$[*].text'), ' ') END
        AS prompt_text,
      coalesce(system, CASE WHEN json_type(sys_msg) = 'VARCHAR' THEN sys_msg ->> '$'
           ELSE array_to_string(json_extract_string(sys_msg, '$[*].text'), ' ') END)
        AS system_text,
      session_id, api_key_id, ip,
      CASE WHEN ip LIKE '%.%.%.%' AND ip NOT LIKE '%:%'
           THEN split_part(ip, '.', 1) || '.' || split_part(ip, '.', 2) || '.'
                || split_part(ip, '.', 3) || '.0/24'
           WHEN ip LIKE '%:%' THEN array_to_string(string_split(ip, ':')[1:3], ':') || '::/48'
           ELSE NULL END AS ip_prefix,
      user_agent, payment_fingerprint, access_route,
      coalesce(json_array_length(tools), 0) AS n_tools,
      max_tokens, reasoning, input_tokens, output_tokens, reasoning_tokens,
      coalesce(len(msgs), 0) AS n_messages,
      coalesce(len(list_filter(msgs, lambda x: x.role = 'user')), 0) AS n_user_turns
    FROM turns
    WHERE request_id IS NOT NULL AND account_id IS NOT NULL AND ts_ms IS NOT NULL
      AND msgs IS NOT NULL
    """


def open_requests(
    logs: list[Path], memory_limit: str = "1GB", threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection with view ``requests`` over ``logs`` (read lazily, once per query)."""
    con = connect(memory_limit, threads)
    con.execute(f"CREATE VIEW requests AS {requests_sql(con, logs)}")
    return con


def count_requests(logs: list[Path]) -> int:
    """Usable request rows in ``logs``."""
    con = open_requests(logs)
    try:
        return int(con.execute("SELECT count(*) FROM requests").fetchone()[0])
    finally:
        con.close()
