"""``detect`` on real-world inputs: exit codes that tell the truth, metadata-only logs, a
folder mixing formats (and a corrupt file), format override, JSON arrays, CSV and Parquet
exports of the LiteLLM_SpendLogs table."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from gateway_samples import kong, litellm, litellm_spendlogs  # noqa: E402

BASE_MS = 1_714_564_800_000


def rec(i: int, **over) -> dict:
    r = {
        "request_id": f"req-{i}", "ts": BASE_MS + i * 61_000, "account_id": f"acct-{i % 4}",
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "You are helpful."},
                     {"role": "user", "content": f"Explain step by step how tides work, case {i}."}],
        "ip": f"198.51.100.{i % 9}", "user_agent": "openai-python/1.40.0", "max_tokens": 800,
        "input_tokens": 30, "output_tokens": 400, "status": 200, "latency_ms": 900,
    }
    r.update(over)
    return {k: v for k, v in r.items() if v is not None}


def _jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _detect(tmp_path: Path, capsys, *args: str) -> tuple[int, str, dict]:
    argv = ["detect", *args, "--out", str(tmp_path / "out"), "--store", str(tmp_path / "store"),
            "--no-progress", "--workers", "1"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    cap = capsys.readouterr()
    summary_path = tmp_path / "out" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return int(exc.value.code or 0), cap.err + cap.out, summary


def test_every_record_quarantined_exits_3_naming_the_reasons(tmp_path, capsys):
    rows = [rec(i, ts="yesterday") for i in range(5)] + [rec(9, messages=None)] + ["{oops"]
    code, msg, _ = _detect(tmp_path, capsys, str(_jsonl(tmp_path / "bad.jsonl", rows)))
    assert code == 3
    line = [x for x in msg.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "all 7 records quarantined" in line[0]
    assert "bad_timestamp 5" in line[0] and "invalid_json 1" in line[0] and "no_text 1" in line[0]
    assert "Traceback" not in msg


def test_empty_input_exits_3(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    code, msg, _ = _detect(tmp_path, capsys, str(tmp_path / "empty.jsonl"))
    assert code == 3 and "no request records" in msg


def test_partly_quarantined_exits_0_with_a_one_line_warning(tmp_path, capsys):
    rows = [rec(i) for i in range(20)] + [rec(100, ts="never"), rec(101, messages=None)]
    code, msg, summary = _detect(tmp_path, capsys, str(_jsonl(tmp_path / "l.jsonl", rows)))
    assert code == 0
    warn = [x for x in msg.splitlines() if x.startswith("warning:")]
    assert len(warn) == 1
    assert "2 of 22 records quarantined" in warn[0] and "quarantine.jsonl" in warn[0]
    assert summary["counts"]["requests_accepted"] == 20


def test_access_log_without_text_runs_metadata_only(tmp_path, capsys):
    rows = [rec(i, messages=None) for i in range(40)]  # an access log: no prompts at all
    rows.append(rec(99, messages=None, ts="not a time"))  # still quarantined for its time
    code, msg, summary = _detect(tmp_path, capsys, str(_jsonl(tmp_path / "access.jsonl", rows)))
    assert code == 0 and "Traceback" not in msg  # the old IndexError
    assert summary["mode"] == "metadata-only" and summary["ingest"]["metadata_only"]
    assert summary["counts"]["requests_accepted"] == 40
    assert summary["quarantine"]["this_run"] == {"bad_timestamp": 1}
    assert "metadata-only run" in msg
    assert "Metadata-only run" in (tmp_path / "out" / "report.html").read_text()


def test_folder_mixing_three_formats_and_a_corrupt_file(tmp_path, capsys):
    logs = tmp_path / "logs"
    _jsonl(logs / "a-contract.jsonl", [rec(i) for i in range(10)])
    _jsonl(logs / "b-litellm.jsonl", [litellm(rec(i))[0] for i in range(10, 20)])
    _jsonl(logs / "c-kong.jsonl", [kong(rec(i))[0] for i in range(20, 30)])
    (logs / "d-broken.parquet").write_bytes(b"PAR1 this is not a parquet file")
    code, msg, summary = _detect(tmp_path, capsys, str(logs))
    assert code == 0, msg
    assert summary["formats"] == {"contract": 1, "kong": 1, "litellm": 1}
    assert summary["counts"]["requests_accepted"] == 30
    bad = summary["ingest"]["unreadable_files"]
    assert [Path(b["path"]).name for b in bad] == ["d-broken.parquet"] and bad[0]["reason"]
    assert summary["quarantine"]["this_run"] == {"unreadable_file": 1}
    assert "1 of 31 records quarantined" in msg


def test_format_override_and_unknown_format(tmp_path, capsys):
    path = _jsonl(tmp_path / "payloads.jsonl", [litellm(rec(i))[0] for i in range(5)])
    code, _, summary = _detect(tmp_path, capsys, str(path), "--format", "litellm")
    assert code == 0 and summary["formats"] == {"litellm": 1}
    code, msg, _ = _detect(tmp_path / "x", capsys, str(path), "--format", "splunk")
    assert code == 2 and "litellm_spendlogs" in msg and "splunk" in msg


def test_bad_assume_tz(tmp_path, capsys):
    path = _jsonl(tmp_path / "l.jsonl", [rec(0)])
    code, msg, _ = _detect(tmp_path, capsys, str(path), "--assume-tz", "Mars/Olympus")
    assert code == 2 and "--assume-tz" in msg


def test_offsetless_times_are_counted_in_the_summary(tmp_path, capsys):
    rows = [rec(i, ts=f"2024-05-01 12:{i:02d}:00") for i in range(6)]
    code, _, summary = _detect(tmp_path, capsys, str(_jsonl(tmp_path / "l.jsonl", rows)),
                               "--assume-tz", "Europe/Paris")
    assert code == 0 and summary["counts"]["ts_assumed_tz"] == 6
    assert summary["assume_tz"] == "Europe/Paris"


def test_json_array_file_is_many_records(tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([rec(i) for i in range(7)]))
    code, _, summary = _detect(tmp_path, capsys, str(path))
    assert code == 0 and summary["counts"]["requests_accepted"] == 7


def test_spendlogs_csv_and_parquet_exports(tmp_path, capsys):
    rows = [litellm_spendlogs(rec(i))[0] for i in range(8)]
    csv_path = tmp_path / "logs" / "LiteLLM_SpendLogs.csv"
    csv_path.parent.mkdir(parents=True)
    with open(csv_path, "w", newline="") as fh:  # what psql \copy ... CSV HEADER writes
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    # Parquet with typed columns: a timestamp startTime, as a warehouse export holds it.
    more = [litellm_spendlogs(rec(i))[0] for i in range(8, 16)]
    tbl = pa.Table.from_pylist(more)
    start = pa.array([BASE_MS + i * 61_000 for i in range(8, 16)], pa.int64()).cast(
        pa.timestamp("ms"))
    tbl = tbl.set_column(tbl.schema.get_field_index("startTime"), "startTime", start)
    pq.write_table(tbl, tmp_path / "logs" / "spendlogs.parquet")
    code, msg, summary = _detect(tmp_path, capsys, str(tmp_path / "logs"))
    assert code == 0, msg
    assert summary["formats"] == {"litellm_spendlogs": 2}
    assert summary["counts"]["requests_accepted"] == 16
    assert summary["counts"]["requests_quarantined"] == 0


def test_otlp_json_lines_under_a_json_name(tmp_path, capsys):
    """The OTel collector's file exporter writes one OTLP/JSON document per line, named .json."""
    from gateway_samples import otel_span, otlp_document

    docs = [otlp_document([otel_span(rec(i))[0] for i in range(k, k + 5)]) for k in (0, 5)]
    path = tmp_path / "otel-traces.json"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    code, msg, summary = _detect(tmp_path, capsys, str(path))
    assert code == 0, msg
    assert summary["formats"] == {"otel_genai": 1}
    assert summary["counts"]["requests_accepted"] == 10


def test_contract_csv_with_numbers_and_json_messages(tmp_path, capsys):
    rows = [rec(i) for i in range(6)]
    path = tmp_path / "requests.csv"
    fields = list(rows[0])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "messages": json.dumps(r["messages"])})
    code, msg, summary = _detect(tmp_path, capsys, str(path))
    assert code == 0, msg
    assert summary["formats"] == {"contract": 1}
    assert summary["counts"]["requests_accepted"] == 6
    assert summary["counts"]["requests_quarantined"] == 0


def test_langfuse_export_starting_with_a_span_row(tmp_path, capsys):
    from gateway_samples import langfuse

    span = {"id": "span-1", "traceId": "t", "type": "SPAN", "startTime": "2024-05-01T12:00:00Z",
            "name": "retrieve"}
    rows = [span] + [langfuse(rec(i))[0] for i in range(6)]
    code, msg, summary = _detect(tmp_path, capsys, str(_jsonl(tmp_path / "obs.jsonl", rows)))
    assert code == 0, msg
    assert summary["formats"] == {"langfuse": 1}
    assert summary["counts"]["requests_accepted"] == 6
    assert summary["counts"]["requests_quarantined"] == 0


def test_helicone_export_tool_csv(tmp_path, capsys):
    """``npx @helicone/export --format csv --include-body``: its own column list, bodies as
    JSON text, and no request_id column (the response id identifies the request)."""
    from gateway_samples import helicone

    cols = ["response_id", "response_created_at", "response_status", "request_created_at",
            "request_body", "request_properties", "request_user_id", "model", "prompt_tokens",
            "completion_tokens", "latency", "cost"]
    path = tmp_path / "output.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(cols)
        for i in range(6):
            native = helicone(rec(i))[0]
            native.update(model=native["request_model"], latency=native["delay_ms"], cost=0.002)
            w.writerow([json.dumps(native[c]) if isinstance(native[c], dict) else native[c]
                        for c in cols])
    code, msg, summary = _detect(tmp_path, capsys, str(path))
    assert code == 0, msg
    assert summary["formats"] == {"helicone": 1}
    assert summary["counts"]["requests_accepted"] == 6
    assert summary["counts"]["requests_quarantined"] == 0


def test_formats_command_lists_every_format(capsys):
    from distillguard.ingest.formats import NAMES

    with pytest.raises(SystemExit) as exc:
        main(["formats"])
    out = capsys.readouterr().out
    assert exc.value.code in (0, None)
    assert all(name in out for name in NAMES)
