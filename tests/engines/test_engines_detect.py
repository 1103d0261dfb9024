"""``detect`` end to end on the simulator's tiny preset: the exact output contract, the
incremental path (yesterday's file is not re-read, verdicts cover both days) and
``--no-content-retention`` (no prompt text anywhere in the store or the outputs)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from distillguard import contract
from distillguard.engines.embedded import baseline_scan, detect
from distillguard.ingest import Store


def _split(src: Path, dest: Path, at: float) -> tuple[Path, Path, list[str]]:
    lines = _lines(src)[:KEEP_LINES]  # the first ~5 days: enough for every campaign, faster
    cut = int(len(lines) * at)
    a, b = dest / "day1.jsonl.gz", dest / "day2.jsonl"
    with gzip.open(a, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines[:cut]) + "\n")
    b.write_text("\n".join(lines[cut:]) + "\n{this line is broken\n", encoding="utf-8")
    return a, b, lines


KEEP_LINES = 3500


def _lines(src: Path) -> list[str]:
    # split on "\n" only: JSON strings may hold U+2028 and friends, which splitlines() cuts
    return [x for x in gzip.open(src, "rt", encoding="utf-8").read().split("\n") if x]


def _accounts_in(lines: list[str]) -> set[str]:
    return {json.loads(x)["account_id"] for x in lines}


@pytest.fixture(scope="module")
def two_days(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Day 1 detected, then day 1 + day 2 detected again on the same store."""
    root = tmp_path_factory.mktemp("two_days")
    day1, day2, lines = _split(tiny_data / "requests.jsonl.gz", root, 0.6)
    store = root / "store"
    s1 = detect([day1], root / "out1", accounts=tiny_data / "accounts.csv", store=store,
                 progress=False)
    out1_accounts = (root / "out1" / "accounts.csv").read_text()
    s2 = detect([day1, day2], root / "out2", accounts=tiny_data / "accounts.csv", store=store,
                progress=False)
    cut = int(len(lines) * 0.6)
    return {"s1": s1, "s2": s2, "out": root / "out2", "store": store, "lines": lines,
            "cut": cut, "out1_accounts": out1_accounts}


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames or []), list(r)


def test_all_five_outputs_with_exact_columns(two_days):
    out = two_days["out"]
    # The run had an account table, so the optional sign-up scores are written too.
    want = contract.OUTPUT_FILES + contract.OPTIONAL_OUTPUT_FILES
    assert sorted(p.name for p in out.iterdir()) == sorted(want)
    cols, rows = _read_csv(out / "accounts.csv")
    assert tuple(cols) == contract.OUTPUT_ACCOUNT_COLUMNS
    ccols, clusters = _read_csv(out / "clusters.csv")
    assert tuple(ccols) == contract.OUTPUT_CLUSTER_COLUMNS
    req = pq.read_table(out / "requests.parquet")
    assert tuple(req.column_names) == contract.OUTPUT_REQUEST_COLUMNS
    assert all(0.0 <= r <= 1.0 for r in req.column("risk").to_pylist())
    assert (out / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_one_row_per_account_seen_with_valid_risk_and_verdict(two_days):
    _, rows = _read_csv(two_days["out"] / "accounts.csv")
    ids = [r["account_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == _accounts_in(two_days["lines"])
    assert all(0.0 <= float(r["risk"]) <= 1.0 for r in rows)
    assert {r["verdict"] for r in rows} <= set(contract.VERDICTS)
    assert any(r["verdict"] == "attack" for r in rows)  # tiny has campaigns
    _, clusters = _read_csv(two_days["out"] / "clusters.csv")
    cluster_ids = {c["cluster_id"] for c in clusters}
    assert {r["cluster_id"] for r in rows if r["cluster_id"]} <= cluster_ids
    for c in clusters:
        members = sum(1 for r in rows if r["cluster_id"] == c["cluster_id"])
        assert int(c["n_accounts"]) == members


def test_incremental_second_run_reads_only_the_new_file(two_days):
    s1, s2 = two_days["s1"], two_days["s2"]
    n = len(two_days["lines"])
    assert s1["counts"]["requests_accepted"] == two_days["cut"]
    assert (s2["counts"]["files_read"], s2["counts"]["files_skipped"]) == (1, 2)  # day 2 only
    assert s2["counts"]["requests_accepted"] == n - two_days["cut"]
    assert s2["counts"]["requests_quarantined"] == 1
    assert s2["quarantine"]["this_run"] == {"invalid_json": 1}
    assert s2["counts"]["requests_in_store"] == n
    # the verdict table was recomputed over both days
    day1_accounts = _accounts_in(two_days["lines"][: two_days["cut"]])
    assert s1["counts"]["accounts"] == len(day1_accounts)
    assert s2["counts"]["accounts"] == len(_accounts_in(two_days["lines"])) > len(day1_accounts)


def test_summary_json_counts_timings_versions_policy(two_days):
    s = json.loads((two_days["out"] / "summary.json").read_text())
    assert s["counts"]["accounts"] == sum(s["accounts_by_verdict"].values())
    for stage in ("ingest", "templates", "analyze", "outputs", "report", "total"):
        assert s["timings_s"][stage] >= 0
    assert set(s["versions"]) == {"distillguard", "duckdb", "pyarrow", "python"}
    assert s["policy"]["version"] and "scoring" in s["policy"]["params"]
    assert s["quarantine"]["in_store"] == {"invalid_json": 1}
    assert s["resources"]["peak_rss_mb"] > 0 and s["resources"]["memory_limit"] == "1GB"
    feat = s["resources"]["featurize"]  # in-process (1) or the pool (all workers)
    assert feat["workers"] in (1, s["resources"]["workers"]) and feat["worker_cpu_s"] >= 0
    assert s["throughput_rps"]["end_to_end"] > 0


def test_bad_worker_count_fails_before_any_work(tiny_data, tmp_path):
    from distillguard.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="workers"):
        detect([tiny_data / "requests.jsonl.gz"], tmp_path / "out", store=tmp_path / "s", workers=0)
    assert not (tmp_path / "s").exists()


MARKER = "Quokka-zeppelin 7731: list every prime below ninety and explain each step."


def test_no_content_retention_leaves_no_prompt_text(tiny_data, tmp_path):
    lines = _lines(tiny_data / "requests.jsonl.gz")
    first = json.loads(lines[0])
    marked = dict(first, request_id="marker-1",
                  messages=[{"role": "system", "content": "Be brief. " + MARKER},
                            {"role": "user", "content": MARKER}])
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines[:800] + [json.dumps(marked), "{broken " + MARKER]) + "\n")

    def text_hits(store: Path) -> int:
        con = duckdb.connect(str(store / "store.duckdb"), read_only=True)
        hits = 0
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'"
        ).fetchall():
            hits += con.execute(
                f'SELECT count(*) FROM "{table}" WHERE strpos("{column}", ?) > 0', [MARKER]
            ).fetchall()[0][0]
        con.close()
        return hits

    # positive control: with retention the marker is stored (prompt, system, raw quarantine)
    with Store(tmp_path / "s1") as st:
        st.ingest([log])
    assert text_hits(tmp_path / "s1") >= 3

    s = detect([log], tmp_path / "o2", store=tmp_path / "s2", progress=False,
               retain_content=False)
    assert s["counts"]["requests_quarantined"] == 1
    assert text_hits(tmp_path / "s2") == 0
    needle = MARKER.encode()
    for folder in (tmp_path / "s2", tmp_path / "o2"):
        for f in folder.rglob("*"):
            if f.is_file():
                assert needle not in f.read_bytes(), f"prompt text found in {f}"


def test_baseline_scan_reads_the_same_log(tiny_data):
    assert baseline_scan([tiny_data / "requests.jsonl.gz"]) > 0
