"""Validate and normalise raw records in SQL (DuckDB JSON functions), a whole batch at a time.

Input: a table of raw records ``(line, line_no)`` (see ``ingest.readers``). Output: one row per
record with every column of ``contract.NORMALIZED_REQUEST_SCHEMA`` plus ``reason`` (NULL when
the record is accepted) and ``raw``. A record is never dropped: it is either accepted or carries
exactly one reason code, the first problem found in this order:

``invalid_utf8`` (bytes that are not UTF-8, even inside ids) · ``invalid_json`` ·
``wrong_type:record`` (a JSON value that is not an object) ·
``missing_field:<name>`` · ``bad_timestamp`` · ``wrong_type:<field>`` · ``bad_messages`` ·
``no_text`` (no prompt text anywhere in the record) · ``duplicate_request_id`` (the same id
earlier in the input or already in the store).

Times are epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude,
as numbers or digit strings) or ISO 8601 with ``T`` or a space; an ISO time without an offset
is read in ``assume_tz`` and flagged in ``ts_assumed_tz``. ``messages`` may be a list or a JSON
string holding one (database exports); a message's text is its string ``content``, the text
parts of a ``content`` list, or the text ``parts`` of OpenTelemetry GenAI messages.

Each JSON record is parsed once by ``json_extract`` with the list of every contract path; the
per-field checks then work on the small extracted values. The records of the common shape
(contract fields of their contract types, messages with string role and content) can instead
be validated in Arrow, by :func:`arrow_requests` (~2x less CPU; the same rows, tested on
hostile input); every other record still goes through the query.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from .. import contract

# Times outside [2000-01-01, 2100-01-01) are rejected: no API log is older, and a value there
# means the epoch unit was misread.
TS_MIN_MS = 946_684_800_000
TS_MAX_MS = 4_102_444_800_000
RAW_NOT_RETAINED = "<not retained: --no-content-retention>"
# Put by the reader before a line that is not UTF-8 (its bytes backslash-escaped after it);
# never the start of valid JSON, so only such lines get the reason ``invalid_utf8``.
INVALID_UTF8_MARK = "\uffffinvalid_utf8:"

REQUEST_FIELDS: tuple[str, ...] = contract.REQUIRED_REQUEST_FIELDS + tuple(
    contract.OPTIONAL_REQUEST_FIELDS
)
_STRING_REQUIRED = ("request_id", "account_id", "model")

# The paths whose JSON types ``dg_msg_ok`` checks, read from a message in one parse.
DG_MSG_TYPE_PATHS = "['$', '$.role', '$.parts', '$.content']"
# Fast path for the common shape of ``messages``: a list of objects whose ``role`` and
# ``content`` are both strings. One ``from_json`` reads every message's role and content as
# JSON text (the first of repeated keys, as ``$.role`` does; NULL for a non-object or an
# absent key), so a string is exactly a value whose text starts with a quote. Rows of that
# shape skip the per-message checks (they always pass) and re-parses; every other row takes
# the general path below. ``try``: an engine error here only sends the row to that path.
FAST_MSGS_SHAPE = """'[{"role": "JSON", "content": "JSON"}]'"""

# Temporary macros (per connection, never written into the store file).
MACROS: tuple[str, ...] = (
    # Text of a message's content: a string, or the text parts of a list of parts. A part's
    # text is ``text`` (OpenAI, Anthropic) or, for ``type: text``, ``content`` (OTel GenAI).
    # Texts are joined by ``nullif(list_aggr(.., 'string_agg', ..), '')``, which is
    # ``nullif(array_to_string(..), '')`` (an empty list is NULL either way) without the
    # macro's four copies of its argument, which made every batch bind a larger expression.
    """CREATE OR REPLACE TEMP MACRO dg_content_text(c) AS CASE json_type(c)
        WHEN 'VARCHAR' THEN c->>'$'
        WHEN 'ARRAY' THEN nullif(list_aggr(list_filter(list_transform(CAST(c AS JSON[]),
            lambda dg_p: CASE WHEN json_type(dg_p) = 'VARCHAR' THEN dg_p->>'$'
                              WHEN json_type(dg_p, '$.text') = 'VARCHAR' THEN dg_p->>'$.text'
                              WHEN dg_p->>'$.type' = 'text'
                                   AND json_type(dg_p, '$.content') = 'VARCHAR'
                                  THEN dg_p->>'$.content'
                         END), lambda dg_t: dg_t IS NOT NULL), 'string_agg', chr(10)), '')
        END""",
    # A message's text: its content, else its OTel GenAI ``parts``.
    """CREATE OR REPLACE TEMP MACRO dg_msg_text(m) AS coalesce(
        dg_content_text(json_extract(m, '$.content')), dg_content_text(json_extract(m, '$.parts')))""",
    # A list of parts: objects or strings.
    """CREATE OR REPLACE TEMP MACRO dg_parts_ok(c) AS coalesce(list_bool_and(list_transform(
        CAST(c AS JSON[]), lambda dg_p: json_type(dg_p) IN ('OBJECT', 'VARCHAR'))), true)""",
    # A well-formed message: an object with a string role and string/list/null content (or,
    # for OTel GenAI messages, a list of parts). ``t`` is ``json_type(m, DG_MSG_TYPE_PATHS)``:
    # the message's own type and those of its role, parts and content from one parse.
    """CREATE OR REPLACE TEMP MACRO dg_msg_ok(t, m) AS CASE
        WHEN t[1] <> 'OBJECT' THEN false
        WHEN t[2] IS DISTINCT FROM 'VARCHAR' THEN false
        WHEN t[3] = 'ARRAY' AND coalesce(t[4], 'NULL') = 'NULL'
            THEN dg_parts_ok(json_extract(m, '$.parts'))
        WHEN coalesce(t[4], 'NULL') IN ('VARCHAR', 'NULL') THEN true
        WHEN t[4] = 'ARRAY' THEN dg_parts_ok(json_extract(m, '$.content'))
        ELSE false END""",
    # ``messages`` as a list, or as a JSON string holding a list (every database export).
    """CREATE OR REPLACE TEMP MACRO dg_msgs(v, t) AS CASE
        WHEN t = 'ARRAY' THEN CAST(v AS JSON[])
        WHEN t = 'VARCHAR' AND json_type(try(json(v->>'$'))) = 'ARRAY'
            THEN CAST(json(v->>'$') AS JSON[])
        END""",
    # A tool declaration's name: a string, or an object with name / function.name.
    """CREATE OR REPLACE TEMP MACRO dg_tool_name(x) AS coalesce(
        CASE WHEN json_type(x) = 'VARCHAR' THEN x->>'$' END,
        CASE WHEN json_type(x, '$.name') = 'VARCHAR' THEN x->>'$.name' END,
        CASE WHEN json_type(x, '$.function.name') = 'VARCHAR' THEN x->>'$.function.name' END)""",
    # (No subquery in these: a scalar subquery in a macro becomes a join per batch.)
    f"""CREATE OR REPLACE TEMP MACRO dg_ts_in_range(ms) AS
        CASE WHEN ms BETWEEN {TS_MIN_MS} AND {TS_MAX_MS - 1} THEN ms END""",
    # An epoch number in s, ms, µs or ns → ms. Today is ~1.7e9 s, 1.7e12 ms, 1.7e15 µs,
    # 1.7e18 ns, so the magnitude tells the unit for any time in 2000–2100.
    """CREATE OR REPLACE TEMP MACRO dg_epoch_ms(x) AS TRY_CAST(CASE
        WHEN abs(x) < 1e11 THEN x * 1e3 WHEN abs(x) < 1e14 THEN x
        WHEN abs(x) < 1e17 THEN x / 1e3 ELSE x / 1e6 END AS BIGINT)""",
    # What a ``ts`` is: 'num' (a JSON number), 'num_text' (a number as text), 'iso_tz' /
    # 'iso_local' (other text, with or without an offset after the date: Z, +hh, -hh). No
    # regex: the casts below are the validation (a text neither reads as is NULL).
    """CREATE OR REPLACE TEMP MACRO dg_ts_kind(t, s) AS CASE
        WHEN t IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN 'num'
        WHEN t <> 'VARCHAR' THEN NULL
        WHEN TRY_CAST(s AS DOUBLE) IS NOT NULL THEN 'num_text'
        WHEN strpos(translate(upper(substr(s, 11)), '+-', 'ZZ'), 'Z') > 0 THEN 'iso_tz'
        ELSE 'iso_local' END""",
    # Epoch ms of a ``ts`` of that kind (``s`` its trimmed text); an ISO time without an
    # offset is wall-clock time in zone ``tz``. NULL when none or out of range.
    """CREATE OR REPLACE TEMP MACRO dg_ts_ms(v, s, kind, tz) AS dg_ts_in_range(CASE kind
        WHEN 'num' THEN dg_epoch_ms(TRY_CAST(v AS DOUBLE))
        WHEN 'num_text' THEN dg_epoch_ms(TRY_CAST(s AS DOUBLE))
        WHEN 'iso_tz' THEN epoch_ms(TRY_CAST(upper(replace(s, ',', '.')) AS TIMESTAMPTZ))
        WHEN 'iso_local'
            THEN epoch_ms(timezone(tz, TRY_CAST(upper(replace(s, ',', '.')) AS TIMESTAMP)))
        END)""",
)


def _json_type(f: str) -> str:
    """SQL for the JSON type of field ``f``'s extracted value ``v_<f>`` (JSON text). In JSON's
    grammar a value starting with a quote is a string and one starting with ``[`` an array,
    so ``messages`` (most of a record's bytes) is not parsed again to say so (~1 µs per
    record); any other start (a number, an object, whitespace) asks ``json_type``."""
    if f != "messages":
        return f"json_type(v_{f})"
    v = f"v_{f}"
    return (
        f"CASE WHEN starts_with({v}, '\"') THEN 'VARCHAR' WHEN starts_with({v}, '[') THEN 'ARRAY'"
        f" ELSE json_type({v}) END"
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
    assume_tz: str = "UTC",
    require_text: bool = True,
    detect_text: bool = False,
    fast_paths: bool = True,
) -> str:
    """The validation query over ``raw_table(line, line_no)``.

    Columns: ``contract.NORMALIZED_REQUEST_SCHEMA``, then ``reason``, ``raw`` (the record's
    text for quarantined rows, a marker when content is not retained), ``ts_assumed_tz``
    (the time had no offset and was read in ``assume_tz``) and ``has_text`` (with
    ``detect_text``: the record carries user text, whether or not it is accepted; the store
    asks for it on a file's first batch only, to tell an access log). ``require_text=False`` is the
    metadata-only mode of an access log: a record without any prompt text is accepted (its
    text columns NULL) instead of quarantined as ``no_text``. ``dedup_against``
    names a table of already-stored requests to check ids against (``None``: don't).
    ``within_batch_dedup=False`` leaves repeated ids inside the batch to the caller (the
    embedded store does it on the narrow id column): the query is then a pure streaming
    projection, no window and no sort, which keeps its memory small. The Spark engine runs
    this same query per Arrow batch. ``fast_paths=False`` sends every row through the general
    path (no ``FAST_MSGS_SHAPE`` shortcut, the ``extra`` merge on every record): the same rows,
    slower; tests compare the two.
    """
    paths = ", ".join(f"'$.{f}'" for f in REQUEST_FIELDS)
    ext = ", ".join(f"v[{i + 1}] AS v_{f}" for i, f in enumerate(REQUEST_FIELDS))
    types = ", ".join(f"{_json_type(f)} AS t_{f}" for f in REQUEST_FIELDS)
    known_nulls = "{" + ", ".join(f'"{f}": null' for f in REQUEST_FIELDS) + "}"

    checks = [
        f"WHEN NOT ok AND starts_with(line, '{INVALID_UTF8_MARK}') THEN 'invalid_utf8'",
        "WHEN NOT ok THEN 'invalid_json'",
        "WHEN jt <> 'OBJECT' THEN 'wrong_type:record'",
    ]
    for f in contract.REQUIRED_REQUEST_FIELDS:
        if f == "messages":
            continue  # no messages at all is no_text (below), or metadata-only
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
        f"WHEN NOT f_ok AND {_present('messages')} AND (msgs IS NULL OR len(msgs) = 0"
        " OR NOT coalesce(list_bool_and(list_transform(list_transform(msgs,"
        f" lambda dg_m: json_type(dg_m, {DG_MSG_TYPE_PATHS})),"
        " lambda dg_t, dg_i: dg_msg_ok(dg_t, msgs[dg_i]))), false))"
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

    # Most records hold contract fields only: the number of their keys (one cheap parse) says
    # so, and the merge patch (which rewrites the whole record) runs on the others alone. A
    # contract key present in the record has a non-NULL ``v_<field>`` (JSON ``null`` included),
    # and every such key is one of the record's keys: as many keys as present contract fields
    # means no other key (a repeated key only sends the record to the merge, which gives the
    # same NULL). Counting costs ~1 µs less per record than ``list_has_all`` over the key list.
    present = " + ".join(f"(v_{f} IS NOT NULL)::INTEGER" for f in REQUEST_FIELDS)
    merged = f"nullif(json_merge_patch(line, '{known_nulls}')::VARCHAR, '{{}}')"
    if not retain_content:
        extra = "NULL::VARCHAR"
    elif fast_paths:
        extra = f"CASE WHEN len(json_keys(line)) = {present} THEN NULL::VARCHAR ELSE {merged} END"
    else:
        extra = merged
    f_ok = (
        "coalesce(len(fm) > 0 AND list_bool_and(list_transform(fm, lambda dg_f:"
        " coalesce(starts_with(dg_f.role, '\"') AND starts_with(dg_f.content, '\"'), false))),"
        " false)"
        if fast_paths else "false"
    )
    raw = (
        f"replace(n.line, '{INVALID_UTF8_MARK}', '')" if retain_content else f"'{RAW_NOT_RETAINED}'"
    )
    has_text = (
        "CASE WHEN reason0 IS NULL THEN prompt0 IS NOT NULL ELSE coalesce(list_bool_or("
        "list_transform(coalesce(msgs, dg_msgs(v_messages, t_messages)), lambda dg_m: dg_m->>'$.role' = 'user' AND "
        "nullif(dg_msg_text(dg_m), '') IS NOT NULL)), false) END"
        if detect_text else "NULL::BOOLEAN"
    )
    # A record without prompt text: quarantined, unless the log has no text at all.
    no_text = "CASE WHEN prompt0 IS NULL THEN 'no_text' END" if require_text else "NULL"
    empty_prompt = "''" if require_text else "NULL"
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

    params = {
        "source_file": source_file, "retain_content": retain_content,
        "dedup_against": dedup_against, "within_batch_dedup": within_batch_dedup,
        "assume_tz": assume_tz, "require_text": require_text, "detect_text": detect_text,
        "fast_paths": fast_paths,
    }
    # The first line names the query's parameters (json.dumps escapes newlines): a worker
    # handed this text alone can validate the common records in Arrow (``arrow_requests``).
    return f"""{PARAMS_TAG}{json.dumps(params, sort_keys=True)}
WITH p AS NOT MATERIALIZED (
  -- One parse extracts every contract path and tells valid JSON (a list) from invalid (NULL).
  -- A path has a value only in an object, so only records without any known field are
  -- parsed again for their type (an empty object, an array, a scalar).
  SELECT line_no, line, try(json_extract(line, [{paths}])) AS v0 FROM {raw_table}
), p1 AS NOT MATERIALIZED (
  SELECT line_no, line, v0,
         CASE WHEN v0 IS NULL THEN NULL
              WHEN list_bool_or(list_transform(v0, lambda dg_v: dg_v IS NOT NULL)) THEN 'OBJECT'
              ELSE json_type(line) END AS jt
  FROM p
), e AS NOT MATERIALIZED (
  -- v0 as it is (no CASE copying every list): a record that is not an object has no
  -- value at any contract path, so each v[i] is already NULL there.
  SELECT line_no, line, jt IS NOT NULL AS ok, jt, v0 AS v
  FROM p1
), x AS NOT MATERIALIZED (
  SELECT line_no, line, ok, jt, {ext} FROM e
), y AS NOT MATERIALIZED (
  SELECT *, {types} FROM x
), y0 AS NOT MATERIALIZED (
  SELECT *, dg_ts_kind(t_ts, ts_txt) AS ts_kind
  FROM (SELECT *, CASE WHEN t_ts = 'VARCHAR' THEN trim(v_ts->>'$') END AS ts_txt FROM y)
), f0 AS NOT MATERIALIZED (
  SELECT *, CASE WHEN t_messages = 'ARRAY'
                 THEN try(from_json(v_messages, {FAST_MSGS_SHAPE})) END AS fm
  FROM y0
), f1 AS NOT MATERIALIZED (
  SELECT *, {f_ok} AS f_ok FROM f0
), z AS NOT MATERIALIZED (
  SELECT *,
         dg_ts_ms(v_ts, ts_txt, ts_kind, {_literal(assume_tz)}) AS ts_ms,
         ts_kind = 'iso_local' AS ts_assumed,
         CASE WHEN NOT f_ok THEN dg_msgs(v_messages, t_messages) END AS msgs
  FROM f1
), r AS NOT MATERIALIZED (
  SELECT *, {reason} AS reason0 FROM z
), rl AS NOT MATERIALIZED (
  -- Roles once per message: every later step works on this small list, not on the messages.
  SELECT *, CASE WHEN reason0 IS NULL AND f_ok THEN list_transform(fm, lambda dg_f: dg_f.role->>'$')
                 WHEN reason0 IS NULL THEN list_transform(msgs, lambda dg_m: dg_m->>'$.role')
            END AS roles
  FROM r
), ru AS NOT MATERIALIZED (
  SELECT *, len(list_filter(roles, lambda dg_r: dg_r = 'user')) AS n_user,
         len(roles) + 1 - list_position(list_reverse(roles), 'user') AS last_user
  FROM rl
), rc AS NOT MATERIALIZED (
  SELECT *, CASE WHEN reason0 IS NULL AND n_user > 0 AND NOT f_ok THEN msgs[last_user]
            END AS last_msg
  FROM ru
), rp0 AS NOT MATERIALIZED (
  SELECT *, CASE WHEN f_ok THEN CASE WHEN reason0 IS NULL AND n_user > 0
                                    THEN nullif(fm[last_user].content->>'$', '') END
                 ELSE nullif(dg_content_text(json_extract(last_msg, '$.content')), '')
            END AS content0
  FROM rc
), rp AS NOT MATERIALIZED (
  -- OTel GenAI ``parts`` are looked at only when ``content`` has no text (CASE evaluates
  -- its branch on those rows alone).
  SELECT *, CASE WHEN content0 IS NOT NULL THEN content0
                 WHEN last_msg IS NOT NULL
                     THEN nullif(dg_content_text(json_extract(last_msg, '$.parts')), '')
                 -- a fast-path row whose last user message has empty content (rare)
                 WHEN f_ok AND reason0 IS NULL AND n_user > 0 THEN nullif(dg_content_text(
                     json_extract(CAST(v_messages AS JSON[])[last_user], '$.parts')), '')
            END AS prompt0
  FROM rp0
), rt AS NOT MATERIALIZED (
  -- Whether the record carries user text at all, whatever else is wrong with it: a log in
  -- which none does is an access log (metadata-only), not a log of text-less records.
  SELECT *, {has_text} AS has_text
  FROM rp
), n AS NOT MATERIALIZED (
  SELECT
      CASE WHEN reason0 IS NULL THEN v_request_id->>'$' END AS request_id,
      ts_ms,
      CASE WHEN reason0 IS NULL THEN v_account_id->>'$' END AS account_id,
      CASE WHEN reason0 IS NULL THEN v_model->>'$' END AS model,
      {optional_sql},
      CASE WHEN reason0 IS NULL THEN CAST(coalesce(len(msgs), len(fm), 0) AS INTEGER)
      END AS n_messages,
      CASE WHEN reason0 IS NULL THEN CAST(coalesce(n_user, 0) AS INTEGER) END AS n_user_turns,
      prompt0 AS prompt_text,
      CASE WHEN reason0 IS NULL THEN coalesce(
          CASE WHEN t_system = 'VARCHAR' AND v_system->>'$' <> '' THEN v_system->>'$' END,
          CASE WHEN list_has_any(roles, ['system', 'developer']) AND f_ok THEN
          nullif(list_aggr(list_transform(list_filter(fm,
              lambda dg_f, dg_i: roles[dg_i] IN ('system', 'developer')),
              lambda dg_f: dg_f.content->>'$'), 'string_agg', chr(10)), '')
          WHEN list_has_any(roles, ['system', 'developer']) THEN
          nullif(list_aggr(list_transform(list_filter(msgs,
              lambda dg_m, dg_i: roles[dg_i] IN ('system', 'developer')),
              lambda dg_m: dg_msg_text(dg_m)), 'string_agg', chr(10)), '')
          END)
      END AS system_text,
      CASE WHEN reason0 IS NULL THEN {extra} END AS extra,
      line_no,
      line,
      ts_assumed,
      has_text,
      coalesce(reason0, {no_text}) AS reason
  FROM rt
)
SELECT
  n.request_id, n.ts_ms, n.account_id, n.model, n.org_id, n.api_key_id, n.session_id, n.ip,
  n.user_agent, n.country, n.payment_fingerprint, n.access_route, n.tools, n.max_tokens,
  n.temperature, n.reasoning, n.stream, n.input_tokens, n.output_tokens, n.reasoning_tokens,
  n.status, n.latency_ms, n.n_messages, n.n_user_turns,
  CAST(length(n.prompt_text) AS INTEGER) AS prompt_chars,
  coalesce(n.prompt_text, {empty_prompt}) AS prompt_text, n.system_text, n.extra,
  {_literal(source_file)} AS source_file,
  n.line_no AS source_line,
  CASE WHEN n.reason IS NOT NULL THEN n.reason
       WHEN {dup_cond} THEN 'duplicate_request_id'
  END AS reason,
  CASE WHEN n.reason IS NOT NULL OR {dup_cond} THEN {raw} END AS raw,
  n.reason IS NULL AND coalesce(n.ts_assumed, false) AS ts_assumed_tz,
  n.has_text
FROM n {dup_join}
{order}
"""


# ---- the common records in Arrow ------------------------------------------------------------
# Most records of a log have one shape: a JSON object of contract fields with their contract
# types, ``messages`` a list of objects with a string ``role`` and ``content``. For those,
# pyarrow's JSON reader (C++, one parse into typed columns) and a few Arrow kernels give the
# same row as the query above; every other record (and every record the reader cannot type)
# goes through the query. The reader is strict: a value of another JSON type than its
# declared column, a repeated key or invalid JSON fails the parse (never a silent cast),
# which is what keeps this path from accepting a record the query would quarantine. Where a
# parse fails, the error names its row ("in row N") and the rows around it are parsed again;
# errors without a row are bisected. Each query costs ~30 ms to bind (see prepare), each
# record ~20 µs in SQL against ~6 µs here.

PARAMS_TAG = "-- distillguard request_sql "
# ``reasoning`` is a string or an integer (contract: string|integer) and the JSON reader types
# a column one way: where it is a plain JSON integer (digits, no sign, fraction, exponent or
# leading zero, at most _MAX_DIGITS of them: always a BIGINT or UBIGINT to the query) it is
# quoted before the parse; its text is then what the query's ``->>'$'`` gives. The key cannot sit inside a
# JSON string (quotes there are escaped), and a number turned string stays a value where it
# was, so no record turns valid or invalid. Any other integer fails its record's parse.
_UNION_FIELD = "reasoning"
_UNION_KEY = b'"reasoning":'
_MAX_DIGITS = 19
_PAD = "  \n"  # two spaces after each record: room to quote a number in place
_MAX_EXACT = 2.0**53  # integers up to here survive the query's cast through DOUBLE
_INT32_MAX = 2**31 - 1
_NUMBER = ("max_tokens", "temperature", "latency_ms")
_INTEGER = ("input_tokens", "output_tokens", "reasoning_tokens", "status")
_STRINGS = ("org_id", "api_key_id", "session_id", "ip", "user_agent", "country",
            "payment_fingerprint", "access_route")


def request_params(sql: str) -> dict[str, Any] | None:
    """The parameters :func:`request_sql` built ``sql`` with, or ``None`` for other SQL."""
    if not sql.startswith(PARAMS_TAG):
        return None
    return json.loads(sql[len(PARAMS_TAG) : sql.index("\n")])


def arrow_eligible(params: dict[str, Any] | None) -> bool:
    """Whether :func:`arrow_requests` may serve this query's common records: no id checks
    against other rows (those need the query's window or join)."""
    return bool(
        params and params["fast_paths"] and params["dedup_against"] is None
        and not params["within_batch_dedup"]
    )


def _read_schema() -> pa.Schema:
    """What the JSON reader must find: every contract field with its contract type.
    Integers are read as doubles: the query reads ``5.0`` as 5 too (and casts through DOUBLE);
    a string|integer as a string (see ``_json_text``)."""
    s = pa.string()
    kinds = {"string": s, "number": pa.float64(), "integer": pa.float64(), "bool": pa.bool_(),
             "list<string>": pa.list_(s), "string|integer": s}
    fields = [(f, s) for f in ("request_id", "ts", "account_id", "model")]
    fields.append(("messages", pa.list_(pa.struct([("role", s), ("content", s)]))))
    fields += [(f, kinds[k]) for f, k in contract.OPTIONAL_REQUEST_FIELDS.items()]
    return pa.schema(fields)


_READ_SCHEMA = _read_schema()
_MAX_BLOCK = 1 << 30
_ROW_OF_ERROR = re.compile(r" in row (\d+)$")


def _parse(lines: pa.Array, schema: pa.Schema, rows: np.ndarray) -> list[tuple[np.ndarray, pa.Table]]:
    """Parse ``lines[rows]`` (JSON texts, each ending in a newline) with ``schema``: the parsed
    runs of rows and their tables (rows that fail, alone, are left out)."""
    tables: list[tuple[np.ndarray, pa.Table]] = []
    if not len(rows):
        return tables
    part = lines.take(pa.array(rows)) if len(rows) != len(lines) else lines
    offsets = np.frombuffer(part.buffers()[1], dtype=np.int64)[part.offset:]
    data = part.buffers()[2]
    todo = [(0, len(rows))]
    while todo:
        a, b = todo.pop()
        if a >= b:
            continue
        start, stop = int(offsets[a]), int(offsets[b])
        if stop - start >= _MAX_BLOCK:  # the reader's block size is an int32
            mid = (a + b) // 2
            todo += [(a, mid), (mid, b)] if b - a > 1 else []
            continue
        try:
            table = pajson.read_json(
                pa.BufferReader(data.slice(start, stop - start)),
                read_options=pajson.ReadOptions(use_threads=False, block_size=stop - start + 1),
                parse_options=pajson.ParseOptions(explicit_schema=schema,
                                                  unexpected_field_behavior="infer"),
            )
        except pa.ArrowException as exc:
            hit = _ROW_OF_ERROR.search(str(exc))
            bad = a + int(hit.group(1)) if hit else -1
            if a <= bad < b:  # parse what precedes and follows the named row
                todo += [(a, bad), (bad + 1, b)]
                continue
            table = None
        if table is not None and table.num_rows == b - a:
            # more columns: keys outside the contract; one string key is read (see _extra),
            # more are the query's work
            if _unknown_key(table, schema) is not False:
                tables.append((rows[a:b], table))
        elif b - a > 1:
            mid = (a + b) // 2
            todo += [(a, mid), (mid, b)]
    return sorted(tables, key=lambda run: run[0][0])


def _json_text(lines: pa.Array) -> pa.Array:
    """``lines`` (large_string) as the JSON reader's input: each line followed by two spaces
    and a newline, a plain JSON integer after the last ``"reasoning":`` of a line (and at most
    one space) quoted, in place, in those two spaces (see the comment above ``_UNION_FIELD``).
    Two copies of the text in all (Arrow's join, a bytearray for ``bytes.find``, which runs
    at memory speed, ~10x Arrow's ``find_substring``); a value left unquoted fails its
    record's parse. Offsets do not move: every line keeps its length."""
    text = pc.binary_join_element_wise(
        lines, pa.scalar("", pa.large_string()), pa.scalar(_PAD, pa.large_string())
    )
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset :][: len(text) + 1]
    buf = bytearray(text.buffers()[2])
    hits, at = [], buf.find(_UNION_KEY, offsets[0])
    while 0 <= at < offsets[-1]:
        hits.append(at)
        at = buf.find(_UNION_KEY, at + 1)
    if not hits:
        return text
    raw = np.frombuffer(buf, dtype=np.uint8)
    start = np.asarray(hits, dtype=np.int64) + len(_UNION_KEY)
    start += raw[start] == ord(" ")  # a line ends in _PAD: never past the buffer
    window = raw[np.minimum(start[:, None] + np.arange(_MAX_DIGITS + 2), len(raw) - 1)]
    digit = (window >= ord("0")) & (window <= ord("9"))
    length = np.where(digit.all(axis=1), _MAX_DIGITS + 2, np.argmin(digit, axis=1))
    after = window[np.arange(len(start)), np.minimum(length, _MAX_DIGITS + 1)]
    row = np.searchsorted(offsets, start, side="right") - 1
    last = np.r_[row[1:] != row[:-1], True]  # the last hit of each line
    plain = (
        last & (length >= 1) & (length <= _MAX_DIGITS)
        & ((length == 1) | (window[:, 0] != ord("0")))  # 012 is no JSON number
        & np.isin(after, np.frombuffer(b",}] \t\r\n", dtype=np.uint8))
    )
    ends = offsets[row + 1] - len(_PAD)  # where each line's JSON ends
    for a, n, end in zip(start[plain].tolist(), length[plain].tolist(), ends[plain].tolist(),
                         strict=True):
        buf[a + n + 2 : end + 2] = buf[a + n : end]  # the rest of the line, into the pad
        buf[a + 1 : a + n + 1] = buf[a : a + n]
        buf[a] = buf[a + n + 1] = ord('"')
    del raw  # the bytearray is exported while a numpy view lives
    return pa.LargeStringArray.from_buffers(len(text), text.buffers()[1], pa.py_buffer(buf))


def _per_row(flat: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of ``flat`` (bool or int) over each list given by ``offsets``."""
    cs = np.concatenate([[0], np.cumsum(flat, dtype=np.int64)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def _np(arr: pa.Array | pa.ChunkedArray, fill: Any) -> np.ndarray:
    return pc.fill_null(arr, fill).to_numpy(zero_copy_only=False)


def _messages(msgs: pa.ListArray) -> tuple[np.ndarray, dict[str, Any]]:
    """The query's fast path over ``messages``: which rows it covers and their columns."""
    n = len(msgs)
    offsets = np.asarray(msgs.offsets)  # into msgs.values; a null list spans none
    role, content = pc.struct_field(msgs.values, "role"), pc.struct_field(msgs.values, "content")
    lengths = np.diff(offsets)
    complete = _per_row(_np(pc.is_null(role), True) | _np(pc.is_null(content), True), offsets) == 0
    is_user = _np(pc.equal(role, "user"), False)
    n_user = _per_row(is_user, offsets)
    ok = _np(pc.is_valid(msgs), False) & (lengths > 0) & complete & (n_user > 0)
    users = np.flatnonzero(is_user)
    last = users[np.maximum(np.searchsorted(users, offsets[1:]) - 1, 0)] if len(users) else None
    if last is None:
        return np.zeros(n, dtype=bool), {}
    prompt = content.take(pa.array(np.where(ok, last, 0)))
    ok &= _np(pc.greater(pc.binary_length(prompt), 0), False)  # empty: the query reads parts
    sys_flat = _np(pc.is_in(role, pa.array(["system", "developer"])), False)
    sys_offsets = np.concatenate([[0], np.cumsum(sys_flat)])[offsets]
    sys_lists = pa.ListArray.from_arrays(
        pa.array(sys_offsets.astype(np.int32)), content.filter(pa.array(sys_flat))
    )
    joined = pc.binary_join(sys_lists, "\n")
    cols = {
        "n_messages": lengths, "n_user_turns": n_user, "prompt_text": prompt,
        "system_text": pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined),
    }
    return ok, cols


def _unknown_key(table: pa.Table, schema: pa.Schema) -> str | None | bool:
    """The one key outside the contract that a parsed table holds, as text (``None``: none;
    ``False``: more than one, or not text). Gateway formats add one (``source_format``)."""
    names = [n for n in table.column_names if n not in schema.names]
    if not names:
        return None
    if len(names) > 1 or not pa.types.is_string(table.schema.field(names[0]).type):
        return False
    return names[0]


def _extra(con: Any, name: str, values: pa.Array, retain: bool) -> tuple[np.ndarray, pa.Array]:
    """Which rows the query's ``extra`` is known for, and that ``extra``: the record minus
    its contract keys is ``{name: value}``, written by DuckDB's own JSON writer (as the
    query's merge patch is). A NULL value may be an absent key or a JSON null: the query's."""
    known = _np(pc.is_valid(values), False)
    if not retain:
        return known, pa.nulls(len(values), pa.string())
    con.register("__dg_extra", pa.table({"v": values}))
    try:
        out = con.sql(
            f"SELECT json_object({_literal(name)}, v)::VARCHAR AS x FROM __dg_extra"
        ).to_arrow_table()
    finally:
        con.unregister("__dg_extra")
    return known, out.column("x").combine_chunks()


def _ts(con: Any, ts: pa.Array, tz: str) -> tuple[pa.Array, pa.Array]:
    """Epoch ms and "read in ``tz``" of ``ts`` texts by the query's own macros."""
    con.register("__dg_ts", pa.table({"s": ts}))
    try:
        out = con.sql(
            f"SELECT dg_ts_ms(NULL, s, k, {_literal(tz)}) AS ms, k = 'iso_local' AS local"
            " FROM (SELECT s, dg_ts_kind('VARCHAR', s) AS k"
            " FROM (SELECT trim(s) AS s FROM __dg_ts))"
        ).to_arrow_table()
    finally:
        con.unregister("__dg_ts")
    return out.column("ms").combine_chunks(), out.column("local").combine_chunks()


def _columns(t: pa.Table, ms: pa.Array, local: pa.Array) -> tuple[np.ndarray, dict[str, Any]]:
    """Which rows of a parsed table the query accepts as they are, and their columns
    (``ms``, ``local``: :func:`_ts` of its ``ts``)."""
    ok, cols = _messages(t.column("messages").chunk(0))
    if not cols:
        return ok, {}
    for f in ("request_id", "account_id", "model"):
        v = t.column(f)
        ok &= _np(pc.not_equal(pc.utf8_trim(v, " "), ""), False)  # NULL: absent
        cols[f] = v
    ok &= _np(pc.is_valid(ms), False)
    cols["ts_ms"], cols["ts_assumed_tz"] = ms, local
    for f in _STRINGS:
        cols[f] = t.column(f)
    tools = t.column("tools").chunk(0)  # a NULL name: wrong_type:tools to the query
    ok &= _per_row(_np(pc.is_null(tools.values), True), np.asarray(tools.offsets)) == 0
    cols["tools"] = tools
    for f in _NUMBER + _INTEGER:
        v = _np(t.column(f), 0.0)
        # beyond 2**63 the query's JSON types are neither BIGINT nor UBIGINT
        good = np.isfinite(v) & (np.abs(v) < 2.0**63)
        if f in _INTEGER:
            top = _INT32_MAX if f == "status" else _MAX_EXACT
            good &= (np.round(v) == v) & (np.abs(v) <= top)
        ok &= good
        cols[f] = t.column(f)
    cols[_UNION_FIELD] = t.column(_UNION_FIELD)
    cols["stream"] = t.column("stream")
    sys_field = t.column("system")
    cols["system_text"] = pc.if_else(
        _np(pc.greater(pc.binary_length(sys_field), 0), False), sys_field, cols["system_text"]
    )
    return ok, cols


def arrow_requests(
    con: Any, raw: pa.Table, params: dict[str, Any], schema: pa.Schema
) -> tuple[np.ndarray, pa.Table]:
    """The records of ``raw`` that :func:`request_sql` accepts as they are, validated in Arrow.

    Returns their row numbers in ``raw`` (ascending) and their rows, equal to the query's
    (``schema``: the query's result schema); the other records are left to the query.
    ``con`` holds the macros (times are read by the query's own ``dg_ts_ms``).
    """
    found, base = [], 0
    # chunk by chunk: combining them would copy every text once more (merged tasks have two)
    for lines, line_no in zip(raw.column("line").chunks, raw.column("line_no").chunks,
                              strict=True):
        rows, table = _arrow_chunk(con, lines, line_no, params, schema)
        if len(rows):
            found.append((rows + base, table))
        base += len(lines)
    if not found:
        return np.zeros(0, dtype=np.int64), schema.empty_table()
    return np.concatenate([r for r, _ in found]), pa.concat_tables([t for _, t in found])


def _arrow_chunk(
    con: Any, lines: pa.Array, line_no: pa.Array, params: dict[str, Any], schema: pa.Schema
) -> tuple[np.ndarray, pa.Table]:
    """:func:`arrow_requests` of one chunk of records."""
    if not pa.types.is_large_string(lines.type):
        lines = lines.cast(pa.large_string())
    # a record starts with "{" and ends with "}": no space, BOM or second value around it
    # (the reader skips blank lines and splits "{} {}": rows would no longer be lines)
    shaped = _np(pc.and_(pc.starts_with(lines, "{"), pc.ends_with(lines, "}")), False)
    text = _json_text(lines)
    parsed = _parse(text, _READ_SCHEMA, np.flatnonzero(shaped))
    if not parsed:
        return np.zeros(0, dtype=np.int64), schema.empty_table()
    # one time query for the batch (its binding costs ~4 ms)
    ms, local = _ts(con, pa.concat_arrays([t.column("ts").chunk(0) for _, t in parsed]),
                    params["assume_tz"])
    found, start = [], 0
    for at, table in parsed:
        table = table.combine_chunks()
        n = table.num_rows
        ok, cols = _columns(table, ms.slice(start, n), local.slice(start, n))
        start += n
        name = _unknown_key(table, _READ_SCHEMA)
        if name and cols:
            known, cols["extra"] = _extra(con, name, table.column(name).chunk(0),
                                          params["retain_content"])
            ok &= known
        found.append((at, ok, cols))
    found_rows, parts = [], []
    for at, ok, cols in found:
        if ok.any():
            found_rows.append(at[ok])
            keep = None if ok.all() else pa.array(np.flatnonzero(ok))
            parts.append(_assemble(cols, keep, line_no.take(pa.array(at[ok])), params, schema))
    if not parts:
        return np.zeros(0, dtype=np.int64), schema.empty_table()
    rows, table = np.concatenate(found_rows), pa.concat_tables(parts)
    if np.all(rows[1:] > rows[:-1]):
        return rows, table
    order = np.argsort(rows, kind="stable")
    return rows[order], table.take(pa.array(order))


def _assemble(cols: dict[str, Any], keep: pa.Array | None, line_no: pa.Array,
              params: dict[str, Any], schema: pa.Schema) -> pa.Table:
    """Rows ``keep`` (``None``: all) of ``cols`` as a table of the query's ``schema``."""
    prompt = cols["prompt_text"] if keep is None else cols["prompt_text"].take(keep)
    n = len(prompt)
    given = {
        "prompt_text": prompt,
        "prompt_chars": pc.utf8_length(prompt),
        "extra": pa.nulls(n, pa.string()),  # no key outside the contract (see _parse)
        **({"extra": cols["extra"] if keep is None else cols["extra"].take(keep)}
           if "extra" in cols else {}),
        "source_file": pa.array([params["source_file"]] * n, pa.string()),
        "source_line": line_no,
        "reason": pa.nulls(n, pa.string()),
        "raw": pa.nulls(n, pa.string()),
        "has_text": pa.array(np.ones(n, dtype=bool)) if params["detect_text"]
        else pa.nulls(n, pa.bool_()),
    }
    out = []
    for field in schema:
        v = given.get(field.name)
        if v is None:
            v = cols[field.name]
            v = pa.array(v) if isinstance(v, np.ndarray) else v
            v = v if keep is None else v.take(keep)
        out.append(v.cast(field.type))
    return pa.Table.from_arrays(out, schema=schema)


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
