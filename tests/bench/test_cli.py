"""``distillguard bench``: clear errors, and one real end-to-end run on the small data set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from distillguard.bench.logs import count_requests, find_logs, open_requests
from distillguard.bench.runner import slice_first_days
from distillguard.cli import main


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def _ok(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0


def test_missing_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["bench", str(tmp_path / "nope")], capsys)
    assert "data folder not found" in err and "Traceback" not in err


def test_no_labels(tmp_path: Path, bench_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "nolabels"
    d.mkdir()
    shutil.copy(bench_data / "requests.jsonl.gz", d)
    err = _fails(["bench", str(d)], capsys)
    assert "no labels.csv" in err


def test_no_log(tmp_path: Path, bench_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "nolog"
    d.mkdir()
    shutil.copy(bench_data / "labels.csv", d)
    assert "no request log" in _fails(["bench", str(d)], capsys)


def test_unknown_detector(bench_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["bench", str(bench_data), "--detector", "magic"], capsys)
    assert "unknown detector 'magic'" in err and "fraudar" in err


def test_bad_embedder_and_first_days(bench_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--embedder" in _fails(["bench", str(bench_data), "--embedder", "bert"], capsys)
    assert "--first-days" in _fails(["bench", str(bench_data), "--first-days", "0"], capsys)


def test_findings_without_accounts(
    tmp_path: Path, bench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _fails(["bench", str(bench_data), "--findings", str(tmp_path)], capsys)
    assert "no accounts.csv" in err


def test_bench_end_to_end(
    tmp_path: Path, bench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _ok(["bench", str(bench_data), "--detector", "fraudar", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "fraudar" in printed and "reproduce: distillguard bench" in printed
    res = json.loads((out / "bench.json").read_text())
    assert res["n_requests"] == count_requests(find_logs(bench_data))
    fr = res["detectors"]["fraudar"]
    assert fr["run"]["ok"] and fr["run"]["peak_rss_mib"] > 50
    assert fr["requests_per_s"] > 0 and fr["x_baseline"] > 0
    assert fr["metrics"]["campaigns"]["c1"]["in_pure_clusters"] == pytest.approx(12 / 13)
    assert res["mixed"] == {"n_mixed_accounts": 1, "n_requests": 40, "n_attack_requests": 20}
    md = (out / "bench.md").read_text()
    assert "| fraudar |" in md and "--detector fraudar" in md and "Per campaign" in md

    # Reuse a detect-style output folder through --findings (scored, not re-run): fraudar's
    # table plus a requests.parquet that marks every request of the mixed account.
    findings = tmp_path / "findings"
    findings.mkdir()
    shutil.copy(out / "runs" / "fraudar" / "accounts.csv", findings / "accounts.csv")
    con = open_requests(find_logs(bench_data))
    con.execute(
        f"COPY (SELECT request_id, account_id, 0.9 AS risk, 'x' AS signals FROM requests "
        f"WHERE account_id = 'mix01') TO '{findings / 'requests.parquet'}' (FORMAT parquet)"
    )
    con.close()
    _ok(
        [
            "bench",
            str(bench_data),
            "--findings",
            str(findings),
            "--detector",
            "distillguard",
            "--out",
            str(tmp_path / "out2"),
        ]
    )
    res2 = json.loads((tmp_path / "out2" / "bench.json").read_text())
    dg = res2["detectors"]["distillguard"]
    assert "reused detect output" in dg["run"]["notes"]
    assert dg["mixed"] == {"recall": 1.0, "precision": 0.5}


def test_slice_first_days(tmp_path: Path, bench_data: Path) -> None:
    logs = find_logs(bench_data)
    sliced, active = slice_first_days(logs, 1.0, tmp_path / "early")
    n_all, n_early = count_requests(logs), count_requests([sliced])
    assert 0 < n_early < n_all
    con = open_requests([sliced])
    lo, hi = con.execute("SELECT min(ts_ms), max(ts_ms) FROM requests").fetchone()
    con.close()
    assert hi - lo < 86_400_000
    assert {"x000", "mix01"} <= active


def test_slice_first_days_keeps_records_holding_a_hash_verbatim(tmp_path: Path) -> None:
    """A '#' in a prompt once made DuckDB's CSV writer wrap the line in its quote character,
    and detect then quarantined the record: early slices silently lost every such request."""
    import gzip

    def record(i: int, ts: int, text: str) -> str:
        return json.dumps(
            {
                "request_id": f"r{i}",
                "ts": ts,
                "account_id": f"a{i}",
                "model": "m",
                "messages": [{"role": "user", "content": text}],
            }
        )

    lines = [
        record(1, 1_700_000_000_000, '# Task 3: solve, "x"'),
        record(2, 1_700_000_001_000, "plain"),
        record(3, 1_800_000_000_000, "# after the cut"),
    ]
    log = tmp_path / "requests.jsonl"
    log.write_text("\n".join(lines) + "\n")
    sliced, active = slice_first_days([log], 1.0, tmp_path / "early")
    with gzip.open(sliced, "rt") as f:
        assert f.read().splitlines() == lines[:2]
    assert active == {"a1", "a2"}
