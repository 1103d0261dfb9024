"""The validation query's fast paths (``validate.FAST_MSGS_SHAPE`` and the ``extra`` key check)
accept, quarantine and normalise exactly as the general path does, on hostile input."""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow as pa
import pytest

from distillguard.ingest import prepare, validate

BASE = {"request_id": "r", "ts": 1_704_067_200, "account_id": "a", "model": "m"}

# ``messages`` values: the common shape, near misses of it, and the other accepted forms.
MESSAGES: list[object] = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}],
    [{"role": "developer", "content": ""}, {"role": "system", "content": "s2"},
     {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
     {"role": "user", "content": "c"}],
    [{"role": "user", "content": ""}],  # empty content, nothing else: no_text
    [{"role": "user", "content": "", "parts": [{"type": "text", "content": "otel"}]}],
    [{"role": "user", "content": "first"}, {"role": "user", "content": ""}],
    [{"role": "assistant", "content": "only"}],  # no user turn
    [{"role": "user", "content": "x", "role2": 1, "extra": {"a": [1, 2]}}],
    [{"role": "user", "content": None}],
    [{"role": "user", "content": 7}],
    [{"role": "user", "content": True}],
    [{"role": "user", "content": {"text": "obj"}}],
    [{"role": "user", "content": [{"type": "text", "text": "part"}, "str part", 3]}],
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}],
    [{"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "text", "text": "u"}]}],
    [{"role": "user", "parts": [{"type": "text", "content": "otel only"}]}],
    [{"role": "user", "parts": "not a list"}],
    [{"role": None, "content": "x"}],
    [{"content": "no role"}],
    [{"ROLE": "user", "content": "case"}],
    [{"role": "user"}],
    [{"role": "user", "content": "ok"}, 3],
    [{"role": "user", "content": "ok"}, None],
    [{"role": "user", "content": "ok"}, "str"],
    [{"role": "user", "content": "ok"}, []],
    [[{"role": "user", "content": "nested"}]],
    [],
    {},
    {"role": "user", "content": "object, not list"},
    "plain string",
    json.dumps([{"role": "user", "content": "a list as a JSON string"}]),
    json.dumps([{"role": "user", "content": 5}]),
    "[not json",
    None,
    17,
    [{"role": "user", "content": "caf\u00e9 \U0001f600 \u0000 \t\n \"quoted\" \\ back"}],
    [{"role": "user", "content": "x" * 5000}],
    [{"role": "user", "content": "  "}],
    [{"role": "system", "content": "s"}, {"role": "system", "content": ["p"]},
     {"role": "user", "content": "q"}],
    [{"role": "user", "content": "\u202e rtl \ufeff bom"}],
]

# Whole lines that are not the usual record.
RAW_LINES: list[str] = [
    "{not json",
    "[1, 2]",
    '"a string"',
    "42",
    "null",
    "{}",
    '{"request_id": "r", "request_id": 5, "ts": 1704067200, "account_id": "a", "model": "m",'
    ' "messages": [{"role": "user", "content": "dup top-level key"}]}',
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m", "model": "n",'
    ' "messages": [{"role": "user", "content": "dup known key"}]}',
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m", "zz": 1, "zz": 2,'
    ' "messages": [{"role": "user", "content": "dup unknown key"}]}',
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m",'
    ' "messages": [{"role": "user", "content": "lone \\ud800 surrogate"}]}',
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m",'
    ' "messages": [{"role": "user", "content": "pair \\ud83d\\ude00 esc \\u00e9"}]}',
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m",'
    ' "messages": [{"role": "user", "content": "big", "n": 1e999}]}',
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m",'
    ' "messages": [{"role": "user", "content": "deep", "d": ' + "[" * 200 + "]" * 200 + "}]}",
    '{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m",'
    ' "messages": [{"role":"user","content":"trailing"}]} junk',
    validate.INVALID_UTF8_MARK + '{"request_id": "r"}',
]
# Repeated keys inside a message (JSON allows them; Python dicts cannot hold them): the first
# one counts on both paths.
for _msg in ('{"role": "user", "role": 5, "content": "a"}', '{"role": 5, "role": "user", "content": "a"}',
             '{"role": "user", "content": "a", "content": ["b"]}',
             '{"role": "user", "content": ["b"], "content": "a"}',
             '{"role": "system", "content": "s", "content": 1}, {"role": "user", "content": "q"}'):
    RAW_LINES.append('{"request_id": "r", "ts": 1704067200, "account_id": "a", "model": "m",'
                     f' "messages": [{_msg}]}}')

OTHER_FIELDS: list[dict[str, object]] = [
    {},
    {"org_id": "o", "tools": ["t", {"name": "n"}], "max_tokens": 5, "stream": True},
    {"extra_field": {"k": [1, None]}, "Model": "case"},
    {"system": "top-level system"},
    {"system": ""},
    {"ts": "2024-01-01T00:00:00Z"},
    {"ts": "yesterday"},
    {"ts": None},
    {"request_id": ""},
    {"request_id": 5},
    {"account_id": None},
    {"tools": "calculator"},
    {"status": "200"},
    {"temperature": "hot"},
]


def _records(n_random: int, seed: int) -> list[str]:
    """Every message form with every other-field variant, then seeded random mixes."""
    lines = list(RAW_LINES)
    for msgs in MESSAGES:
        for other in OTHER_FIELDS:
            lines.append(json.dumps({**BASE, "messages": msgs, **other}))
        lines.append(json.dumps({k: v for k, v in BASE.items() if k != "model"} | {"messages": msgs}))
    lines.append(json.dumps(BASE))  # no messages at all
    rng = random.Random(seed)
    for _ in range(n_random):
        # mostly well-formed pieces, so that many records are accepted
        msgs = [rng.choice(MESSAGES[:8] if rng.random() < 0.8 else MESSAGES)
                for _ in range(rng.randint(1, 4))]
        flat = [m for ms in msgs if isinstance(ms, list) for m in ms] or rng.choice(MESSAGES)
        other = OTHER_FIELDS[:6] if rng.random() < 0.7 else OTHER_FIELDS
        rec = {**BASE, "messages": flat, **rng.choice(other)}
        if rng.random() < 0.2:
            rec.pop(rng.choice(list(rec)))
        lines.append(json.dumps(rec, ensure_ascii=rng.random() < 0.5))
    return [line.replace('"request_id": "r"', f'"request_id": "r{i}"', 1)
            for i, line in enumerate(lines)]


def _raw(lines: list[str]) -> pa.Table:
    return pa.table({"line": pa.array(lines, pa.large_string()),
                     "line_no": pa.array(range(1, len(lines) + 1), pa.int64())})


def _run(raw: pa.Table, fast: bool, **kw: bool) -> pa.Table:
    sql = validate.request_sql("__dg_raw", "f.jsonl", kw.pop("retain", True), None,
                               within_batch_dedup=False, fast_paths=fast, **kw)
    return prepare.validate_batch(prepare.connect(), sql, raw, "f.jsonl", True)


@pytest.mark.parametrize(
    "kw",
    [{}, {"retain": False}, {"require_text": False}, {"detect_text": True}],
    ids=["default", "no-retention", "metadata-only", "detect-text"],
)
def test_fast_paths_give_the_same_rows_as_the_general_path(kw):
    raw = _raw(_records(2_000, seed=15))
    general = _run(raw, False, **dict(kw))
    fast = _run(raw, True, **dict(kw))
    assert fast.schema == general.schema
    for name in general.column_names:
        assert fast.column(name).equals(general.column(name)), name
    # the corpus reaches both paths and many reasons
    reasons = Counter(general.column("reason").to_pylist())
    assert reasons[None] > 500
    for want in ("invalid_json", "wrong_type:record", "bad_messages", "missing_field:model",
                 "bad_timestamp", "wrong_type:request_id", "invalid_utf8"):
        assert reasons[want] > 0, want
    if kw.get("require_text", True):
        assert reasons["no_text"] > 0


def test_the_fast_path_reads_prompt_system_and_extra_like_the_general_path():
    lines = [json.dumps({**BASE, "messages": m, "zz": 1}) for m in MESSAGES[:3]]
    out = _run(_raw(lines), True).to_pylist()
    assert [r["prompt_text"] for r in out] == ["hello", "q", "c"]
    assert [r["system_text"] for r in out] == [None, "sys", "\ns2"]
    assert [r["n_messages"] for r in out] == [1, 2, 5]
    assert [r["n_user_turns"] for r in out] == [1, 1, 2]
    assert all(json.loads(r["extra"]) == {"zz": 1} for r in out)
    # only contract fields: no extra
    plain = _run(_raw([json.dumps({**BASE, "messages": MESSAGES[0]})]), True).to_pylist()
    assert plain[0]["extra"] is None and plain[0]["reason"] is None


def test_extra_is_kept_whenever_a_key_is_outside_the_contract():
    """The key-count pre-test: an unknown key is kept even beside repeated contract keys,
    and repeated contract keys alone give no ``extra``."""
    body = json.dumps({**BASE, "messages": MESSAGES[0]})[1:-1]
    lines = [
        "{" + body + ', "model": "again"}',  # a repeated contract key only
        "{" + body + ', "model": "again", "zz": 2}',  # repeated and unknown
        "{" + body + ', "system": null, "zz": null}',  # present nulls count as present
        "{" + body + ', "system": null}',
    ]
    out = _run(_raw(lines), True).to_pylist()
    assert [r["reason"] for r in out] == [None] * 4
    assert out[0]["extra"] is None and out[3]["extra"] is None
    assert json.loads(out[1]["extra"]) == {"zz": 2}
    assert json.loads(out[2]["extra"]) == {"zz": None}
    general = _run(_raw(lines), False).to_pylist()
    assert [r["extra"] for r in out] == [r["extra"] for r in general]


@pytest.mark.parametrize(
    "value",
    ['[1]', '[]', '"[1]"', '""', '{"a": [1]}', "1", "-2.5", "1e999", "true", "null",
     '"\\"quoted\\""', '[{"role": "user"}]'],
)
def test_the_type_of_messages_from_its_first_character_is_json_type(value):
    """``messages`` is typed from its first character where JSON's grammar says the type;
    every other value still asks ``json_type`` (same answer)."""
    con = prepare.connect()
    sql = (f"SELECT {validate._json_type('messages')} AS fast, json_type(v_messages) AS slow "
           "FROM (SELECT json_extract(?, '$.messages') AS v_messages)")
    fast, slow = con.execute(sql, ['{"messages": ' + value + "}"]).fetchone()
    assert fast == slow
