"""Every bad record is quarantined with its line number and reason; the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.ingest import Store
from distillguard.ingest.validate import RAW_NOT_RETAINED

BAD_CASES = [
    # (line text or record overrides, expected reason)
    ("{not json at all", "invalid_json"),
    ("[1, 2, 3]", "wrong_type:record"),
    ({"request_id": None}, "missing_field:request_id"),
    ({"account_id": ""}, "missing_field:account_id"),
    ({"model": None}, "missing_field:model"),
    ({"messages": None}, "no_text"),  # the log has text elsewhere: this record lacks it
    ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "no_text"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "no_text"),
    ({"ts": None}, "missing_field:ts"),
    ({"ts": "yesterday"}, "bad_timestamp"),
    ({"ts": 1_714_564}, "bad_timestamp"),  # 1970: no unit puts it in 2000–2100
    ({"ts": "2024-13-45T12:00:00Z"}, "bad_timestamp"),
    ({"request_id": 12345}, "wrong_type:request_id"),
    ({"max_tokens": "lots"}, "wrong_type:max_tokens"),
    ({"stream": "yes"}, "wrong_type:stream"),
    ({"input_tokens": 1.5}, "wrong_type:input_tokens"),
    ({"tools": "search"}, "wrong_type:tools"),
    ({"ip": 17}, "wrong_type:ip"),
    ({"messages": "hello"}, "bad_messages"),
    ({"messages": "[{\"role\": 1}]"}, "bad_messages"),  # a JSON string holding bad messages
    ({"messages": []}, "bad_messages"),
    ({"messages": [{"content": "no role"}]}, "bad_messages"),
    ({"messages": [{"role": "user", "content": 42}]}, "bad_messages"),
]


def test_each_reason_with_line_number_and_the_run_continues(tmp_path, make_log, rec):
    lines: list = [rec(0)]
    expected: dict[int, str] = {}
    for k, (case, reason) in enumerate(BAD_CASES, start=1):
        lines.append(case if isinstance(case, str) else rec(k, **case))
        expected[len(lines)] = reason
    lines.append(rec(999))
    lines.append(rec(0, messages=[{"role": "user", "content": "same id again"}]))  # duplicate
    expected[len(lines)] = "duplicate_request_id"
    log = make_log("mixed.jsonl", lines)

    with Store(tmp_path / "store") as st:
        res = st.ingest([log])
        got = dict(st.con.execute("SELECT line, reason FROM quarantine").fetchall())
        stored = {r[0] for r in st.con.execute("SELECT request_id FROM requests").fetchall()}
        raw_dup = st.con.execute(
            "SELECT raw FROM quarantine WHERE reason = 'duplicate_request_id'"
        ).fetchall()[0][0]

    assert got == expected
    assert stored == {"req-0", "req-999"}
    assert res.accepted == 2 and res.quarantined == len(expected)
    assert res.accepted + res.quarantined == len(lines)  # nothing silently vanishes
    assert sum(res.by_reason.values()) == res.quarantined
    assert "same id again" in raw_dup
    mirror = [json.loads(x) for x in (tmp_path / "store" / "quarantine.jsonl").read_text().splitlines()]
    assert {m["line"]: m["reason"] for m in mirror} == expected


def test_blank_lines_keep_line_numbers(tmp_path, make_log, rec):
    log = make_log("blank.jsonl", [rec(1), "", "   ", "{oops", rec(2)])
    with Store(tmp_path / "s") as st:
        res = st.ingest([log])
        q = st.con.execute("SELECT line, reason FROM quarantine").fetchall()
        lines = st.con.execute("SELECT source_line FROM requests ORDER BY 1").fetchall()
    assert q == [(4, "invalid_json")]
    assert [x[0] for x in lines] == [1, 5]
    assert res.accepted + res.quarantined == 3  # non-blank lines


def test_whitespace_only_lines_are_blank_and_crlf_records_kept(tmp_path, make_log, rec):
    # Lines of tabs, CRs or Unicode spaces only are blank; a record ending in CR is kept.
    log = make_log(
        "ws.jsonl", [rec(1), "\t\r", "\u3000", "\u00a0 ", "\r", json.dumps(rec(2)) + "\r", "x"]
    )
    with Store(tmp_path / "s") as st:
        res = st.ingest([log])
        q = st.con.execute("SELECT line, reason FROM quarantine").fetchall()
        lines = st.con.execute("SELECT source_line FROM requests ORDER BY 1").fetchall()
    assert [x[0] for x in lines] == [1, 6]
    assert q == [(7, "invalid_json")]
    assert res.accepted + res.quarantined == 3  # non-blank lines


def test_accepted_plus_quarantined_equals_lines_per_file(tmp_path, make_log, rec):
    a = make_log("a.jsonl", [rec(i) for i in range(30)] + ["{bad"] * 5)
    b = make_log("b.jsonl.gz", [rec(100 + i) for i in range(20)] + ['{"x": 1}'] * 3)
    with Store(tmp_path / "s") as st:
        st.ingest([a, b])
        rows = st.con.execute(
            "SELECT path, rows_accepted, rows_quarantined FROM ingested_files ORDER BY path"
        ).fetchall()
    assert [(Path(p).name, acc, q) for p, acc, q in rows] == [("a.jsonl", 30, 5), ("b.jsonl.gz", 20, 3)]


def test_no_content_retention_keeps_only_reason_and_line(tmp_path, make_log, rec):
    log = make_log("x.jsonl", [rec(1), '{"request_id": "secret-prompt-text", "ts": ', rec(1)])
    with Store(tmp_path / "s") as st:
        st.ingest([log], retain_content=False)
        rows = st.con.execute("SELECT line, reason, raw FROM quarantine ORDER BY line").fetchall()
    assert rows == [
        (2, "invalid_json", RAW_NOT_RETAINED),
        (3, "duplicate_request_id", RAW_NOT_RETAINED),
    ]


@pytest.mark.parametrize(
    "ts, expected_ms",
    [
        ("2024-05-01T12:00:00Z", 1_714_564_800_000),
        ("2024-05-01T14:00:00.250+02:00", 1_714_564_800_250),
        ("2024-05-01t12:00:00z", 1_714_564_800_000),
        (1_714_564_800_123, 1_714_564_800_123),
    ],
)
def test_timestamps_normalise_to_epoch_ms_utc(tmp_path, make_log, rec, ts, expected_ms):
    log = make_log("t.jsonl", [rec(1, ts=ts)])
    with Store(tmp_path / "s") as st:
        st.ingest([log])
        assert st.con.execute("SELECT ts_ms FROM requests").fetchall() == [(expected_ms,)]


def test_truncated_gzip_keeps_earlier_lines_and_goes_on(tmp_path, make_log, rec):
    full = make_log("full.jsonl.gz", [rec(i) for i in range(2000)])
    data = full.read_bytes()
    cut = tmp_path / "logs" / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])  # a log rotation that broke off
    full.unlink()
    after = make_log("next.jsonl", [rec(5000)])
    with Store(tmp_path / "s") as st:
        res = st.ingest([cut, after])
        q = st.con.execute("SELECT line, reason FROM quarantine").fetchall()
    assert res.files_read == 2 and res.by_reason == {"truncated_file": 1}
    assert len(q) == 1 and q[0][1] == "truncated_file"
    assert 0 < res.accepted - 1 < 2000 and q[0][0] == res.accepted  # next line after the kept ones


def test_byte_order_mark_and_crlf_are_not_errors(tmp_path, rec):
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(rec(1)) + "\r\n" + json.dumps(rec(2)) + "\r\n").encode())
    with Store(tmp_path / "s") as st:
        res = st.ingest([path])
    assert (res.accepted, res.quarantined) == (2, 0)


# Every way a gateway writes the same instant, 2024-05-01T12:00:00Z (BASE_MS).
TIME_FORMS = [
    (1_714_564_800, False),  # epoch seconds
    (1_714_564_800.0, False),  # epoch seconds as a float (LiteLLM startTime)
    (1_714_564_800_000, False),  # ms
    (1_714_564_800_000_000, False),  # µs
    (1_714_564_800_000_000_000, False),  # ns
    ("1714564800000000000", False),  # ns as a digit string (OTLP/JSON int64)
    ("2024-05-01T12:00:00Z", False),
    ("2024-05-01T14:00:00+02:00", False),
    ("2024-05-01T14:00:00+0200", False),
    ("2024-05-01T12:00:00.000000000Z", False),  # nanosecond fraction
    ("2024-05-01 12:00:00", True),  # no offset: assumed UTC, counted
    ("2024-05-01T12:00:00.000", True),
]


@pytest.mark.parametrize("ts, assumed", TIME_FORMS)
def test_time_forms_are_read_as_the_same_instant(tmp_path, make_log, rec, ts, assumed):
    log = make_log("t.jsonl", [rec(0, ts=ts)])
    with Store(tmp_path / "s") as st:
        res = st.ingest([log])
        got = st.con.execute("SELECT ts_ms FROM requests").fetchall()
    assert res.accepted == 1, res.by_reason
    assert got == [(1_714_564_800_000,)]
    assert res.ts_assumed_tz == (1 if assumed else 0)


def test_assume_tz_reads_offsetless_times_in_that_zone(tmp_path, make_log, rec):
    log = make_log("t.jsonl", [rec(0, ts="2024-05-01 08:00:00")])  # 08:00 in New York = 12:00Z
    with Store(tmp_path / "s") as st:
        res = st.ingest([log], assume_tz="America/New_York")
        got = st.con.execute("SELECT ts_ms FROM requests").fetchall()
    assert got == [(1_714_564_800_000,)] and res.ts_assumed_tz == 1


MESSAGE_FORMS = [
    [{"role": "user", "content": "Explain photosynthesis"}],
    json.dumps([{"role": "user", "content": "Explain photosynthesis"}]),  # a JSON string
    [{"role": "user", "content": [{"type": "text", "text": "Explain photosynthesis"}]}],
    [{"role": "user", "parts": [{"type": "text", "content": "Explain photosynthesis"}]}],  # OTel
    [{"role": "user", "content": [{"type": "input_text", "text": "Explain photosynthesis"}]}],
]


@pytest.mark.parametrize("messages", MESSAGE_FORMS)
def test_message_forms_give_the_prompt_text(tmp_path, make_log, rec, messages):
    log = make_log("m.jsonl", [rec(0, messages=messages)])
    with Store(tmp_path / "s") as st:
        res = st.ingest([log])
        got = st.con.execute("SELECT prompt_text, n_user_turns FROM requests").fetchall()
    assert res.accepted == 1, res.by_reason
    assert got == [("Explain photosynthesis", 1)]


@pytest.mark.parametrize("gz", [False, True])
def test_invalid_utf8_is_quarantined_not_replaced(tmp_path, rec, gz: bool) -> None:
    """Two ids that differ only in invalid bytes must not both become 'acct-\ufffd'."""
    import gzip

    def line(i: int, account: bytes) -> bytes:
        text = json.dumps(rec(i, account="ACCOUNT")).encode()
        return text.replace(b'"ACCOUNT"', b'"' + account + b'"')

    body = (
        b"\n".join(
            [
                line(0, b"acct-ok"),
                line(1, b"acct-\xff"),
                line(2, b"acct-\xfe"),
                line(3, b"acct-ok").replace(b'"req-3"', b'"req-\xc3"'),  # a cut multi-byte char
                line(4, b"acct-ok"),
            ]
        )
        + b"\n"
    )
    path = tmp_path / ("bytes.jsonl.gz" if gz else "bytes.jsonl")
    path.write_bytes(gzip.compress(body) if gz else body)
    with Store(tmp_path / "store") as st:
        res = st.ingest([path])
        got = st.con.execute("SELECT line, reason, raw FROM quarantine ORDER BY line").fetchall()
        accounts = {r[0] for r in st.con.execute("SELECT account_id FROM requests").fetchall()}
    assert [(n, reason) for n, reason, _ in got] == [
        (2, "invalid_utf8"),
        (3, "invalid_utf8"),
        (4, "invalid_utf8"),
    ]
    assert (
        "acct-\\xff" in got[0][2] and "\ufffd" not in got[0][2] and "invalid_utf8:" not in got[0][2]
    )
    assert accounts == {"acct-ok"} and res.accepted == 2 and res.quarantined == 3
