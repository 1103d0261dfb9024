"""The per-record normaliser: clear errors, and the same rows as the batch ingest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distillguard.contract import NORMALIZED_REQUEST_SCHEMA
from distillguard.online.normalize import RecordError, normalize_record, rows_to_batch

OK = {
    "request_id": "r1",
    "ts": "2026-03-02T10:00:00.250+01:00",
    "account_id": "a1",
    "model": "m",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "second"},
                {"type": "image_url", "image_url": {"url": "x"}},
                {"type": "text", "text": "part"},
            ],
        },
    ],
    "tools": ["search", {"type": "function", "function": {"name": "calc"}}],
    "max_tokens": 512,
    "reasoning": 8000,
    "stream": False,
    "status": 200.0,
    "ip": "203.0.113.9",
    "custom_field": {"a": 1},
}


def test_normalised_fields() -> None:
    row = normalize_record(OK)
    assert row["ts_ms"] == 1772442000250
    assert row["prompt_text"] == "second\npart" and row["prompt_chars"] == 11
    assert row["system_text"] == "You are terse."
    assert (row["n_messages"], row["n_user_turns"]) == (4, 2)
    assert (
        row["tools"] == ["search", "calc"] and row["reasoning"] == "8000" and row["status"] == 200
    )
    assert json.loads(row["extra"]) == {"custom_field": {"a": 1}}
    batch = rows_to_batch([row])
    assert batch.schema == NORMALIZED_REQUEST_SCHEMA and batch.num_rows == 1


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"request_id": None}, "request_id: required field is missing"),
        ({"account_id": "  "}, "account_id: must be a non-empty string"),
        ({"model": 7}, "model: must be a non-empty string"),
        ({"ts": "2026-03-02 10:00"}, "ts: not an RFC 3339 time"),
        ({"ts": "2026-03-02T10:00:00"}, "ts: not an RFC 3339 time"),
        ({"ts": 1772442000}, "outside 2000-2100"),
        ({"ts": True}, "ts: must be"),
        ({"messages": []}, "messages: must be a non-empty list"),
        ({"messages": "hi"}, "messages: must be a non-empty list"),
        ({"messages": [{"content": "x"}]}, "messages[0].role: must be a string"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [5]}]}, "messages[0].content[0]"),
        ({"max_tokens": "many"}, "max_tokens: must be a number"),
        ({"stream": "yes"}, "stream: must be true or false"),
        ({"input_tokens": 1.5}, "input_tokens: must be an integer"),
        ({"tools": [3]}, "tools: must be a list of strings"),
        ({"access_route": "carrier-pigeon"}, "access_route: must be direct"),
        ({"ip": 12}, "ip: must be a string"),
    ],
)
def test_contract_violations_name_the_field(patch: dict[str, Any], message: str) -> None:
    rec = {**OK, **patch}
    with pytest.raises(RecordError) as exc:
        normalize_record(rec)
    assert message in str(exc.value)


def test_agrees_with_batch_ingest(tmp_path: Path) -> None:
    """Same records through ingest (SQL, many lines) and the online normaliser: same rows."""
    store_mod = pytest.importorskip("distillguard.ingest.store")
    recs = [
        OK,
        {
            **OK,
            "request_id": "r2",
            "ts": 1772442000999,
            "system": "Field system prompt",
            "messages": [{"role": "user", "content": "only"}],
            "access_route": "cloud:aws",
        },
        {**OK, "request_id": "r3", "messages": [{"role": "assistant", "content": "no user"}]},
        {
            **OK,
            "request_id": "r4",
            "ts": "2026-03-02T10:00:00Z",
            "country": "DE",
            "messages": [
                {"role": "developer", "content": "dev rules"},
                {"role": "user", "content": None},
            ],
        },
        {**OK, "request_id": "bad1", "ts": "yesterday"},
        {**OK, "request_id": "bad2", "max_tokens": "lots"},
        {k: v for k, v in OK.items() if k != "model"} | {"request_id": "bad3"},
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    store = store_mod.Store(tmp_path / "store")
    store.ingest([log])
    cols = [
        f.name
        for f in NORMALIZED_REQUEST_SCHEMA
        if f.name not in ("source_file", "source_line", "extra")
    ]
    got = {
        r["request_id"]: r
        for r in store.con.sql(f"SELECT {', '.join(cols)}, extra FROM requests")
        .to_arrow_table()
        .to_pylist()
    }
    reasons = {
        json.loads(raw)["request_id"]: reason
        for (raw, reason) in store.con.execute("SELECT raw, reason FROM quarantine").fetchall()
    }
    quarantined = set(reasons)
    store.close()
    for rec in recs:
        try:
            online = normalize_record(rec)
        except RecordError:
            assert rec["request_id"] in quarantined, rec["request_id"]
            continue
        if reasons.get(rec["request_id"]) == "no_text":
            # Batch quarantines a record without prompt text; a gateway must still decide the
            # request, so online scores it on its metadata (an empty prompt).
            assert online["prompt_text"] == "", rec["request_id"]
            continue
        batch = got[rec["request_id"]]
        for c in cols:
            b, o = batch[c], online[c]
            if isinstance(b, float) or isinstance(o, float):
                assert b == pytest.approx(o), c
            else:
                assert b == o, (rec["request_id"], c, b, o)
        assert json.loads(batch["extra"] or "{}") == json.loads(online["extra"] or "{}")
    assert quarantined == {"bad1", "bad2", "bad3", "r3", "r4"}
    assert {reasons["r3"], reasons["r4"]} == {"no_text"}
