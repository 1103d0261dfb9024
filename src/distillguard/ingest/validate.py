"""Validate and normalise raw records in SQL (DuckDB JSON functions), a whole batch at a time.

Input: a table of raw records ``(line, line_no)`` (see ``ingest.readers``). Output: one row per
record with every column of ``contract.NORMALIZED_REQUEST_SCHEMA`` plus ``reason`` (NULL when
the record is accepted) and ``raw``. A record is never dropped: it is either accepted or carries
exactly one reason code, the first problem found in this order:

``invalid_utf8`` (bytes that are not UTF-8, even inside ids) · ``invalid_json`` ·
``wrong_type:record`` (a JSON value that is not an object) ·
``missing_field:<name>`` · ``bad_timestamp`` · ``wrong_type:<field>`` · ``bad_messages`` ·
``duplicate_request_id`` (the same id earlier in the input or already in the store).

Each JSON record is parsed once by ``json_extract`` with the list of every contract path; the
per-field checks then work on the small extracted values.
"""

from __future__ import annotations

from .. import contract

# Timestamps outside [2000-01-01, 2100-01-01) are rejected: an integer there is most likely
# epoch seconds or microseconds, not the milliseconds the contract asks for.
TS_MIN_MS = 946_684_800_000
TS_MAX_MS = 4_102_444_800_000
# RFC 3339 with a mandatory offset (``Z`` or ``±hh:mm``); no backslashes (see DIALECT_RULES).
RFC3339 = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
RAW_NOT_RETAINED = "<not retained: --no-content-retention>"
# Put by the reader before a line that is not UTF-8 (its bytes backslash-escaped after it);
# never the start of valid JSON, so only such lines get the reason ``invalid_utf8``.
INVALID_UTF8_MARK = "\uffffinvalid_utf8:"

REQUEST_FIELDS: tuple[str, ...] = contract.REQUIRED_REQUEST_FIELDS + tuple(
    contract.OPTIONAL_REQUEST_FIELDS
)
_STRING_REQUIRED = ("request_id", "account_id", "model")

# Temporary macros (per connection, never written into the store file).
MACROS: tuple[str, ...] = (
    # Text of a message's content: a string, or the text parts of a list of parts.
    """CREATE OR REPLACE TEMP MACRO dg_content_text(c) AS CASE json_type(c)
        WHEN 'VARCHAR' THEN c->>'$'
        WHEN 'ARRAY' THEN array_to_string(list_filter(list_transform(CAST(c AS JSON[]),
            lambda dg_p: CASE WHEN json_type(dg_p) = 'VARCHAR' THEN dg_p->>'$'
                              WHEN json_type(dg_p, '$.text') = 'VARCHAR' THEN dg_p->>'$.text'
                         END), lambda dg_t: dg_t IS NOT NULL), chr(10))
        END""",
    # A well-formed message: an object with a string role and string/list/null content.
    """CREATE OR REPLACE TEMP MACRO dg_msg_ok(m) AS CASE
        WHEN json_type(m) <> 'OBJECT' THEN false
        WHEN json_type(m, '$.role') IS DISTINCT FROM 'VARCHAR' THEN false
        WHEN coalesce(json_type(m, '$.content'), 'NULL') IN ('VARCHAR', 'NULL') THEN true
        WHEN json_type(m, '$.content') = 'ARRAY' THEN coalesce(list_bool_and(list_transform(
            CAST(json_extract(m, '$.content') AS JSON[]),
            lambda dg_p: json_type(dg_p) IN ('OBJECT', 'VARCHAR'))), true)
        ELSE false END""",
    # A tool declaration's name: a string, or an object with name / function.name.
    """CREATE OR REPLACE TEMP MACRO dg_tool_name(x) AS coalesce(
        CASE WHEN json_type(x) = 'VARCHAR' THEN x->>'$' END,
        CASE WHEN json_type(x, '$.name') = 'VARCHAR' THEN x->>'$.name' END,
        CASE WHEN json_type(x, '$.function.name') = 'VARCHAR' THEN x->>'$.function.name' END)""",
    # Epoch ms from RFC 3339 text or integer epoch ms; NULL when neither or out of range.
    # (No subquery: a scalar subquery in a macro becomes a join per batch.)
    f"""CREATE OR REPLACE TEMP MACRO dg_ts_in_range(ms) AS
        CASE WHEN ms BETWEEN {TS_MIN_MS} AND {TS_MAX_MS - 1} THEN ms END""",
    f"""CREATE OR REPLACE TEMP MACRO dg_ts_ms(v, t) AS CASE
        WHEN t IN ('BIGINT', 'UBIGINT') THEN dg_ts_in_range(TRY_CAST(v AS BIGINT))
        WHEN t = 'VARCHAR' AND regexp_full_match(v->>'$', '{RFC3339}')
            THEN dg_ts_in_range(epoch_ms(TRY_CAST(upper(v->>'$') AS TIMESTAMPTZ)))
        END""",
)


def _present(f: str) -> str:
    return f"coalesce(t_{f}, 'NULL') <> 'NULL'"


def _type_ok(f: str, kind: str) -> str:
    """SQL that is true when optional field ``f`` has JSON type ``kind`` (contract names)."""
    t = f"t_{f}"
    if kind == "string":
        return f"{t} = 'VARCHAR'"
    if kind == "number":
        return f"{t} IN ('BIGINT', 'UBIGINT', 'DOUBLE')"
    if kind == "integer":
        return (
            f"(({t} IN ('BIGINT', 'UBIGINT') AND TRY_CAST(v_{f} AS BIGINT) IS NOT NULL)"
            f" OR ({t} = 'DOUBLE' AND TRY_CAST(v_{f} AS DOUBLE) = round(TRY_CAST(v_{f} AS DOUBLE))"
            f" AND abs(TRY_CAST(v_{f} AS DOUBLE)) < 9e18))"
        )
    if kind == "bool":
        return f"{t} = 'BOOLEAN'"
    if kind == "string|integer":
        return f"{t} IN ('VARCHAR', 'BIGINT', 'UBIGINT')"
    if kind == "list<string>":
        return (
            f"(CASE WHEN {t} = 'ARRAY' THEN coalesce(list_bool_and(list_transform("
            f"CAST(v_{f} AS JSON[]), lambda dg_x: dg_tool_name(dg_x) IS NOT NULL)), true)"
            f" ELSE false END)"
        )
    raise ValueError(f"unknown contract type {kind!r} for {f}")


def _value(f: str, kind: str, sql_type: str) -> str:
    """SQL for the normalised value of optional field ``f`` (NULL when absent)."""
    v = f"v_{f}"
    if kind == "string":
        return f"CASE WHEN t_{f} = 'VARCHAR' THEN {v}->>'$' END"
    if kind in ("number", "integer"):
        return f"CASE WHEN {_type_ok(f, kind)} THEN TRY_CAST(TRY_CAST({v} AS DOUBLE) AS {sql_type}) END"
    if kind == "bool":
        return f"CASE WHEN t_{f} = 'BOOLEAN' THEN CAST({v} AS BOOLEAN) END"
    if kind == "string|integer":
        return f"CASE WHEN {_type_ok(f, kind)} THEN {v}->>'$' END"
    if kind == "list<string>":
        return (
            f"CASE WHEN t_{f} = 'ARRAY' THEN list_transform(CAST({v} AS JSON[]),"
            f" lambda dg_x: dg_tool_name(dg_x)) END"
        )
    raise ValueError(kind)


_SQL_TYPES = {
    "max_tokens": "DOUBLE",
    "temperature": "DOUBLE",
    "latency_ms": "DOUBLE",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
    "status": "INTEGER",
}


def _literal(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def request_sql(
    raw_table: str,
    source_file: str,
    retain_content: bool,
    dedup_against: str | None,
    within_batch_dedup: bool = True,
) -> str:
    """The validation query over ``raw_table(line, line_no)``.

    Columns: ``contract.NORMALIZED_REQUEST_SCHEMA``, then ``reason`` and ``raw`` (the record's
    text for quarantined rows, a marker when content is not retained). ``dedup_against``
    names a table of already-stored requests to check ids against (``None``: don't).
    ``within_batch_dedup=False`` leaves repeated ids inside the batch to the caller (the
    embedded store does it on the narrow id column): the query is then a pure streaming
    projection, no window and no sort, which keeps its memory small. The Spark engine runs
    this same query per Arrow batch.
    """
    paths = ", ".join(f"'$.{f}'" for f in REQUEST_FIELDS)
    ext = ", ".join(f"v[{i + 1}] AS v_{f}" for i, f in enumerate(REQUEST_FIELDS))
    types = ", ".join(f"json_type(v_{f}) AS t_{f}" for f in REQUEST_FIELDS)
    known_nulls = "{" + ", ".join(f'"{f}": null' for f in REQUEST_FIELDS) + "}"

    checks = [
        f"WHEN NOT ok AND starts_with(line, '{INVALID_UTF8_MARK}') THEN 'invalid_utf8'",
        "WHEN NOT ok THEN 'invalid_json'",
        "WHEN jt <> 'OBJECT' THEN 'wrong_type:record'",
    ]
    for f in contract.REQUIRED_REQUEST_FIELDS:
        blank = (
            f" OR (t_{f} = 'VARCHAR' AND trim(v_{f}->>'$') = '')" if f in _STRING_REQUIRED else ""
        )
        checks.append(f"WHEN NOT ({_present(f)}){blank} THEN 'missing_field:{f}'")
    checks.append("WHEN ts_ms IS NULL THEN 'bad_timestamp'")
    for f in _STRING_REQUIRED:
        checks.append(f"WHEN t_{f} <> 'VARCHAR' THEN 'wrong_type:{f}'")
    for f, kind in contract.OPTIONAL_REQUEST_FIELDS.items():
        checks.append(f"WHEN {_present(f)} AND NOT ({_type_ok(f, kind)}) THEN 'wrong_type:{f}'")
    checks.append(
        "WHEN t_messages <> 'ARRAY' OR len(msgs) = 0"
        " OR NOT coalesce(list_bool_and(list_transform(msgs, lambda dg_m: dg_msg_ok(dg_m))), false)"
        " THEN 'bad_messages'"
    )
    reason = "CASE " + "\n      ".join(checks) + " END"

    optional_cols = []
    for f in (
        "org_id",
        "api_key_id",
        "session_id",
        "ip",
        "user_agent",
        "country",
        "payment_fingerprint",
        "access_route",
        "tools",
        "max_tokens",
        "temperature",
        "reasoning",
        "stream",
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "status",
        "latency_ms",
    ):
        kind = contract.OPTIONAL_REQUEST_FIELDS[f]
        optional_cols.append(f"{_value(f, kind, _SQL_TYPES.get(f, 'VARCHAR'))} AS {f}")
    optional_sql = ",\n      ".join(optional_cols)

    extra = (
        f"nullif(json_merge_patch(line, '{known_nulls}')::VARCHAR, '{{}}')"
        if retain_content
        else "NULL::VARCHAR"
    )
    raw = (
        f"replace(n.line, '{INVALID_UTF8_MARK}', '')" if retain_content else f"'{RAW_NOT_RETAINED}'"
    )
    dup_join = ""
    dup_cond = "false"
    order = ""
    if within_batch_dedup:
        dup_cond = (
            "row_number() OVER (PARTITION BY n.request_id"
            " ORDER BY n.reason IS NOT NULL, n.line_no) > 1"
        )
        order = "ORDER BY n.line_no"
    if dedup_against:
        dup_join = (
            f"LEFT JOIN (SELECT DISTINCT request_id AS dup_id FROM {dedup_against}"
            " WHERE request_id IN (SELECT request_id FROM n WHERE reason IS NULL)) d"
            " ON d.dup_id = n.request_id"
        )
        dup_cond = f"d.dup_id IS NOT NULL OR {dup_cond}"

    return f"""
WITH p AS NOT MATERIALIZED (
  -- one parse tells valid JSON (a type) from invalid (NULL)
  SELECT line_no, line, try(json_type(line)) AS jt FROM {raw_table}
), e AS NOT MATERIALIZED (
  SELECT line_no, line, jt IS NOT NULL AS ok, jt,
         CASE WHEN jt = 'OBJECT' THEN json_extract(line, [{paths}]) END AS v
  FROM p
), x AS NOT MATERIALIZED (
  SELECT line_no, line, ok, jt, {ext} FROM e
), y AS NOT MATERIALIZED (
  SELECT *, {types} FROM x
), z AS NOT MATERIALIZED (
  SELECT *,
         dg_ts_ms(v_ts, t_ts) AS ts_ms,
         CASE WHEN t_messages = 'ARRAY' THEN CAST(v_messages AS JSON[]) END AS msgs
  FROM y
), r AS NOT MATERIALIZED (
  SELECT *, {reason} AS reason0 FROM z
), rl AS NOT MATERIALIZED (
  -- Roles once per message: every later step works on this small list, not on the messages.
  SELECT *, CASE WHEN reason0 IS NULL THEN list_transform(msgs, lambda dg_m: dg_m->>'$.role')
            END AS roles
  FROM r
), ru AS NOT MATERIALIZED (
  SELECT *, len(list_filter(roles, lambda dg_r: dg_r = 'user')) AS n_user,
         len(roles) + 1 - list_position(list_reverse(roles), 'user') AS last_user
  FROM rl
), n AS NOT MATERIALIZED (
  SELECT
      CASE WHEN reason0 IS NULL THEN v_request_id->>'$' END AS request_id,
      ts_ms,
      CASE WHEN reason0 IS NULL THEN v_account_id->>'$' END AS account_id,
      CASE WHEN reason0 IS NULL THEN v_model->>'$' END AS model,
      {optional_sql},
      CASE WHEN reason0 IS NULL THEN CAST(len(msgs) AS INTEGER) END AS n_messages,
      CASE WHEN reason0 IS NULL THEN CAST(n_user AS INTEGER) END AS n_user_turns,
      CASE WHEN reason0 IS NULL THEN coalesce(CASE WHEN n_user > 0 THEN
          dg_content_text(json_extract(msgs[last_user], '$.content')) END, '') END AS prompt_text,
      CASE WHEN reason0 IS NULL THEN coalesce(
          CASE WHEN t_system = 'VARCHAR' AND v_system->>'$' <> '' THEN v_system->>'$' END,
          CASE WHEN list_has_any(roles, ['system', 'developer']) THEN
          nullif(array_to_string(list_transform(list_filter(msgs,
              lambda dg_m, dg_i: roles[dg_i] IN ('system', 'developer')),
              lambda dg_m: dg_content_text(json_extract(dg_m, '$.content'))), chr(10)), '')
          END)
      END AS system_text,
      CASE WHEN reason0 IS NULL THEN {extra} END AS extra,
      line_no,
      line,
      reason0 AS reason
  FROM ru
)
SELECT
  n.request_id, n.ts_ms, n.account_id, n.model, n.org_id, n.api_key_id, n.session_id, n.ip,
  n.user_agent, n.country, n.payment_fingerprint, n.access_route, n.tools, n.max_tokens,
  n.temperature, n.reasoning, n.stream, n.input_tokens, n.output_tokens, n.reasoning_tokens,
  n.status, n.latency_ms, n.n_messages, n.n_user_turns,
  CAST(length(n.prompt_text) AS INTEGER) AS prompt_chars,
  n.prompt_text, n.system_text, n.extra,
  {_literal(source_file)} AS source_file,
  n.line_no AS source_line,
  CASE WHEN n.reason IS NOT NULL THEN n.reason
       WHEN {dup_cond} THEN 'duplicate_request_id'
  END AS reason,
  CASE WHEN n.reason IS NOT NULL OR {dup_cond} THEN {raw} END AS raw
FROM n {dup_join}
{order}
"""


# ---- account table -------------------------------------------------------------------------
ACCOUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_id", "VARCHAR"),
    ("created_at", "BIGINT"),  # sign-up time as epoch ms UTC (DIALECT_RULES: no timestamps)
    ("signup_route", "VARCHAR"),
    ("verification", "VARCHAR"),
    ("email_domain", "VARCHAR"),
    ("payment_fingerprint", "VARCHAR"),
    ("country", "VARCHAR"),
    ("org_id", "VARCHAR"),
    ("extra", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("source_line", "BIGINT"),
)


def account_sql(raw_table: str, source_file: str) -> str:
    """Validation of account-table records (CSV rows arrive as JSON objects of strings).

    Reasons, each prefixed ``account:`` so they never mix with request reasons:
    ``invalid_json``, ``wrong_type:record``, ``missing_field:account_id``, ``bad_timestamp``
    (``created_at``), ``wrong_type:<field>``, ``bad_value:<field>`` (a ``signup_route`` /
    ``verification`` outside the contract's list), ``duplicate_account_id``.
    """
    strings = (
        "account_id",
        "signup_route",
        "verification",
        "email_domain",
        "payment_fingerprint",
        "country",
        "org_id",
    )
    fields = ("account_id", "created_at") + strings[1:]
    paths = ", ".join(f"'$.{f}'" for f in fields)
    ext = ", ".join(f"v[{i + 1}] AS v_{f}" for i, f in enumerate(fields))
    # Empty CSV cells and JSON nulls both mean "absent".
    vals = ", ".join(
        f"CASE WHEN json_type(v_{f}) = 'VARCHAR' THEN nullif(trim(v_{f}->>'$'), '') END AS s_{f}, "
        f"json_type(v_{f}) AS t_{f}"
        for f in fields
    )
    known_nulls = "{" + ", ".join(f'"{f}": null' for f in fields) + "}"
    routes = ", ".join(f"'{r}'" for r in contract.SIGNUP_ROUTES)
    levels = ", ".join(f"'{v}'" for v in contract.VERIFICATION_LEVELS)
    checks = [
        "WHEN NOT ok THEN 'invalid_json'",
        "WHEN jt <> 'OBJECT' THEN 'wrong_type:record'",
        "WHEN s_account_id IS NULL AND coalesce(t_account_id, 'NULL') IN ('NULL', 'VARCHAR')"
        " THEN 'missing_field:account_id'",
    ]
    checks += [
        f"WHEN coalesce(t_{f}, 'NULL') NOT IN ('NULL', 'VARCHAR') THEN 'wrong_type:{f}'"
        for f in strings
    ]
    checks += [
        "WHEN created_raw_present AND created_at_ms IS NULL THEN 'bad_timestamp'",
        f"WHEN s_signup_route IS NOT NULL AND lower(s_signup_route) NOT IN ({routes})"
        " THEN 'bad_value:signup_route'",
        f"WHEN s_verification IS NOT NULL AND lower(s_verification) NOT IN ({levels})"
        " THEN 'bad_value:verification'",
    ]
    reason = "CASE " + "\n      ".join(checks) + " END"
    return f"""
WITH p AS NOT MATERIALIZED (
  SELECT line_no, line, json_valid(line) AS ok FROM {raw_table}
), e AS NOT MATERIALIZED (
  SELECT line_no, line, ok, CASE WHEN ok THEN json_type(line) END AS jt,
         CASE WHEN ok AND json_type(line) = 'OBJECT' THEN json_extract(line, [{paths}]) END AS v
  FROM p
), x AS (SELECT line_no, line, ok, jt, {ext} FROM e
), y AS (SELECT *, {vals} FROM x
), z AS NOT MATERIALIZED (
  SELECT *,
    (coalesce(t_created_at, 'NULL') <> 'NULL' AND NOT (t_created_at = 'VARCHAR'
        AND s_created_at IS NULL)) AS created_raw_present,
    CASE
      WHEN t_created_at IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN TRY_CAST(v_created_at AS DOUBLE)
      WHEN s_created_at IS NOT NULL AND regexp_full_match(s_created_at, '[0-9]{{9,14}}')
        THEN TRY_CAST(s_created_at AS DOUBLE)
      WHEN s_created_at IS NOT NULL THEN epoch_ms(TRY_CAST(s_created_at AS TIMESTAMPTZ))
    END AS created_num
  FROM y
), z2 AS (
  -- integers below 1e11 are epoch seconds (a 1973 sign-up in ms is not plausible)
  SELECT *, TRY_CAST(CASE WHEN abs(created_num) < 1e11 THEN created_num * 1000
                          ELSE created_num END AS BIGINT) AS created_at_ms
  FROM z
), r AS (SELECT *, {reason} AS reason0 FROM z2
), n AS NOT MATERIALIZED (
  SELECT *, row_number() OVER (PARTITION BY s_account_id ORDER BY reason0 IS NOT NULL, line_no)
            AS rn
  FROM r
)
SELECT s_account_id AS account_id, created_at_ms AS created_at,
       lower(s_signup_route) AS signup_route, lower(s_verification) AS verification,
       s_email_domain AS email_domain, s_payment_fingerprint AS payment_fingerprint,
       s_country AS country, s_org_id AS org_id,
       CASE WHEN reason0 IS NULL THEN nullif(json_merge_patch(line, '{known_nulls}')::VARCHAR, '{{}}')
       END AS extra,
       {_literal(source_file)} AS source_file, line_no AS source_line,
       'account:' || CASE WHEN reason0 IS NOT NULL THEN reason0
                          WHEN rn > 1 THEN 'duplicate_account_id' END AS reason,
       line AS raw
FROM n ORDER BY line_no
"""
