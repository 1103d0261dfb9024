"""The Arrow path of validation (``validate.arrow_requests``, used by ``prepare.validate_batch``)
gives exactly the rows of the validation query, on hostile input that reaches it."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from distillguard.ingest import prepare, validate

BASE = {"request_id": "r", "ts": "2026-10-07T00:01:15.831+00:00", "account_id": "a",
        "model": "m", "messages": [{"role": "user", "content": "hello"}]}

# Per field, values the query accepts, normalises or quarantines (raw JSON text where JSON
# itself is the point: big numbers, NaN, repeated forms).
VARIANTS: dict[str, list[str]] = {
    "ts": ['"2026-10-07T00:01:15Z"', '"2026-10-07T05:31:15+05:30"', '"2026-10-07T00:01:15"',
           '"2026-10-07 00:01:15.5"', '"1791331275"', '"1791331275000"', '" 2026-10-07T00:01:15Z "',
           '"yesterday"', '""', "1791331275", "1791331275.5", '"2026-13-01T00:00:00Z"', "null",
           '"1999-12-31T23:59:59Z"', '"2026-10-07t00:01:15z"', '"2026-10-07T00:01:15,25Z"'],
    "request_id": ['""', '" "', '"\\t"', "5", "null", '"id\\u00e9"'],
    "account_id": ['" a "', '""', "true"],
    "reasoning": ['"high"', "8000", "-5", "0", "8000.0", "1e3", "18446744073709551615", "true",
                  "null", '""', "-0", "9223372036854775808"],
    "reasoning_tokens": ["5", "5.0", "5.5", "-3", "9007199254740993", "1e20", '"5"', "null",
                         "-0.0", "1E2"],
    "status": ["200", "2147483648", "-2147483649", "200.0", "2147483647"],
    "input_tokens": ["9007199254740992", "9223372036854775807", "-9007199254740993"],
    "temperature": ["0.7", "1", "-0.0", "1e308", "12345678901234567890", "NaN", '"0.7"',
                    "0.1e-320", "123456789012345678901234567890"],
    "latency_ms": ["2826", "Infinity", "-1e400"],
    "stream": ["true", "false", "1", '"true"', "null"],
    "tools": ['["a"]', "[]", '["a", null]', '[{"name": "n"}]', '"calc"', "null", "[1]"],
    "system": ['"s"', '""', "null", "5"],
    "max_tokens": ["1024", "1024.5", "-1"],
    "response_text": ['"r"', "5"],
    "country": ['"SG"', "1"],
}
MESSAGES: list[str] = [
    '[{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}]',
    '[{"role": "developer", "content": ""}, {"role": "system", "content": "s2"},'
    ' {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},'
    ' {"role": "user", "content": "c"}]',
    '[{"role": "user", "content": ""}]',
    '[{"role": "user", "content": "", "parts": [{"type": "text", "content": "otel"}]}]',
    '[{"role": "user", "content": "first"}, {"role": "user", "content": ""}]',
    '[{"role": "assistant", "content": "only"}]',
    '[{"role": "user", "content": "x", "reasoning": 5}]',
    '[{"role": "user", "content": null}]',
    '[{"role": "user", "content": 7}]',
    '[{"role": "user", "content": [{"type": "text", "text": "part"}]}]',
    '[{"role": null, "content": "x"}]',
    '[{"role": "user"}]',
    '[{"role": "user", "content": "ok"}, null]',
    '[{"role": "user", "role": "system", "content": "dup"}]',
    "[]",
    '"[{\\"role\\": \\"user\\", \\"content\\": \\"as a string\\"}]"',
    "null",
    '[{"role": "user", "content": "caf\\u00e9 \\ud83d\\ude00 \\u0000 \\"reasoning\\":5"}]',
    '[{"role": "user", "content": "lone \\ud800"}]',
    '[{"role": "user", "content": "  "}]',
    '[{"role": "system", "content": "s"}, {"role": "system", "content": ["p"]},'
    ' {"role": "user", "content": "q"}]',
]
WRAPS = ["{%s}", " {%s}", "{%s} ", "\ufeff{%s}", "{%s}\r", "{%s} {}", "{%s, \"zz\": 1}",
         "{%s, \"zz\": null}", "{%s, \"reasoning\": \"low\"}", "{%s,}"]


def _line(rec: dict[str, str], wrap: str) -> str:
    return wrap % ", ".join(f"{json.dumps(k)}: {v}" for k, v in rec.items())


def _records(n: int, seed: int) -> list[str]:
    """Mostly the common shape, each record with a few fields varied, dropped or moved."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        rec = {k: json.dumps(v) for k, v in BASE.items()}
        rec["request_id"] = json.dumps(f"r{i}")
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            field = rng.choice(list(VARIANTS) + ["messages"])
            rec[field] = rng.choice(MESSAGES if field == "messages" else VARIANTS[field])
        if rng.random() < 0.3:
            rec["reasoning"] = rng.choice(['"high"', "4000", "null"])
        if rng.random() < 0.05:
            rec.pop(rng.choice(list(rec)))
        keys = list(rec)
        if rng.random() < 0.2:
            rng.shuffle(keys)
        wrap = WRAPS[0] if rng.random() < 0.85 else rng.choice(WRAPS[1:])
        lines.append(_line({k: rec[k] for k in keys}, wrap))
    lines += ["", "{not json", "[1]", "{}", validate.INVALID_UTF8_MARK + "{}"]
    return lines


def _raw(lines: list[str]) -> pa.Table:
    return pa.table({"line": pa.array(lines, pa.large_string()),
                     "line_no": pa.array(range(1, len(lines) + 1), pa.int64())})


def _assert_same_rows(got: pa.Table, want: pa.Table) -> None:
    """Equal tables, NaN equal to NaN (JSON's ``NaN``, which DuckDB reads, is in the corpus)."""
    assert got.schema == want.schema
    for name in want.column_names:
        a, b = got.column(name), want.column(name)
        if pa.types.is_floating(a.type):
            assert a.is_null().equals(b.is_null()), name
            np.testing.assert_array_equal(a.to_numpy(), b.to_numpy(), err_msg=name)
        else:
            assert a.equals(b), name


CASES = [{}, {"retain_content": False}, {"require_text": False}, {"detect_text": True},
         {"assume_tz": "America/New_York"}]


@pytest.mark.parametrize("kw", CASES, ids=["default", "no-retention", "metadata-only",
                                           "detect-text", "zone"])
def test_arrow_path_gives_the_rows_of_the_query(kw):
    kw = {"retain_content": True, **kw}
    sql = validate.request_sql("__dg_raw", "f.jsonl", kw.pop("retain_content"), None,
                               within_batch_dedup=False, **kw)
    raw = _raw(_records(3_000, seed=15))
    con = prepare.connect()
    query = prepare.sql_batch(con, sql, raw, "f.jsonl", True)
    both = prepare.validate_batch(con, sql, raw, "f.jsonl", True)
    _assert_same_rows(both, query)
    # the Arrow path took most of the accepted records, not all rows
    rows, _ = validate.arrow_requests(con, raw, validate.request_params(sql),
                                      prepare._result_schema(con, sql, raw))
    accepted = query.column("reason").null_count
    assert 0.5 * accepted < len(rows) < accepted
    assert np.all(np.diff(rows) > 0)


def test_batch_boundaries_do_not_change_rows():
    """Small batches go to the query alone, large ones through Arrow: the same rows."""
    sql = validate.request_sql("__dg_raw", "f.jsonl", True, None, within_batch_dedup=False)
    raw = _raw(_records(1_500, seed=3))
    con = prepare.connect()
    whole = prepare.validate_batch(con, sql, raw, "f.jsonl", True)
    parts = pa.concat_tables([prepare.validate_batch(con, sql, raw.slice(o, 100), "f.jsonl", True)
                              for o in range(0, raw.num_rows, 100)])
    _assert_same_rows(whole, parts)
    # a merged task: one table of two chunks (each validated on its own)
    two = pa.concat_tables([raw.slice(0, 700), raw.slice(700)])
    assert two.column("line").num_chunks == 2
    _assert_same_rows(prepare.validate_batch(con, sql, two, "f.jsonl", True), whole)


def test_the_query_names_its_parameters():
    sql = validate.request_sql("__dg_raw", "a\nb.jsonl", False, None, within_batch_dedup=False,
                               assume_tz="Europe/Paris", detect_text=True)
    params = validate.request_params(sql)
    assert params["source_file"] == "a\nb.jsonl" and params["assume_tz"] == "Europe/Paris"
    assert params["detect_text"] and not params["retain_content"]
    assert validate.arrow_eligible(params)
    dedup = validate.request_sql("__dg_raw", "f", True, "requests")
    assert not validate.arrow_eligible(validate.request_params(dedup))
    assert validate.request_params("SELECT 1") is None


def test_integer_reasoning_is_quoted_where_it_is_a_plain_json_integer():
    lines = ['{"reasoning":5}', '{"reasoning": 123 ,"x":1}', '{"reasoning":012}',
             '{"reasoning":5.5}', '{"m":[{"reasoning":7}],"reasoning":8}', '{"reasoning":-5}',
             '{"reasoning":12345678901234567890}', '{"reasoning":"5"}',
             '{"a":"\\"reasoning\\":5"}', '{"reasoning":7', '{"reasoning":1234567890123456789}']
    text = validate._json_text(pa.array(lines, pa.large_string()))
    out = text.to_pylist()
    assert all(x.endswith("\n") for x in out)
    assert [x.rstrip() for x in out] == [
        '{"reasoning":"5"}', '{"reasoning": "123" ,"x":1}', *lines[2:4],
        '{"m":[{"reasoning":7}],"reasoning":"8"}', *lines[5:9], '{"reasoning":"7"',
        '{"reasoning":"1234567890123456789"}']


def test_runs_longer_than_a_reader_block_are_split(monkeypatch):
    """The JSON reader's block size is an int32: longer runs are halved, and a single record
    longer than that is left to the query."""
    monkeypatch.setattr(validate, "_MAX_BLOCK", 300)
    sql = validate.request_sql("__dg_raw", "f.jsonl", True, None, within_batch_dedup=False)
    lines = [_line({**{k: json.dumps(v) for k, v in BASE.items()}, "request_id": f'"r{i}"'},
                   "{%s}") for i in range(300)]
    lines[5] = lines[5].replace('"hello"', '"' + "x" * 400 + '"')
    raw = _raw(lines)
    con = prepare.connect()
    _assert_same_rows(prepare.validate_batch(con, sql, raw, "f.jsonl", True),
                      prepare.sql_batch(con, sql, raw, "f.jsonl", True))
    rows, _ = validate.arrow_requests(con, raw, validate.request_params(sql),
                                      prepare._result_schema(con, sql, raw))
    assert rows.tolist() == [i for i in range(300) if i != 5]


@pytest.mark.parametrize("retain", [True, False])
def test_one_text_key_outside_the_contract_gives_the_querys_extra(retain):
    """Gateway formats add one key (``source_format``): its ``extra`` is the query's, whatever
    the text; a null, a number or a second unknown key leave the record to the query."""
    sql = validate.request_sql("__dg_raw", "f.jsonl", retain, None, within_batch_dedup=False)
    texts = ['"litellm"', '"caf\\u00e9 \\"q\\" \\\\ / \\n \\u0001 \\ud83d\\ude00"', '""',
             '"</script>"', "null", "7"]
    lines = []
    for i in range(600):
        rec = {k: json.dumps(v) for k, v in BASE.items()}
        rec["request_id"] = json.dumps(f"r{i}")
        rec["source_format"] = texts[i % len(texts)] if i % 50 else '"x", "zz": 1'
        lines.append(_line(rec, "{%s}"))
    raw = _raw(lines)
    con = prepare.connect()
    query = prepare.sql_batch(con, sql, raw, "f.jsonl", True)
    _assert_same_rows(prepare.validate_batch(con, sql, raw, "f.jsonl", True), query)
    # the rows of a run with a second unknown key went to the query; others were read here
    rows, _ = validate.arrow_requests(con, raw, validate.request_params(sql),
                                      prepare._result_schema(con, sql, raw))
    assert len(rows) > 100
    assert not set(rows.tolist()) & {i for i in range(600) if i % len(texts) in (4, 5)}
    if retain:
        extras = query.column("extra").to_pylist()
        assert json.loads(extras[1]) == {"source_format": "caf\u00e9 \"q\" \\ / \n \u0001 \U0001f600"}
