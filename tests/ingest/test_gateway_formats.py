"""Every gateway format: each record accepted with its text, account, time and model, and a
detect run on it flags the same harvest requests as the same data in contract form."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from gateway_samples import BUILDERS, write_sample

from distillguard.engines.embedded import detect
from distillguard.ingest import Store

STORED = "request_id, ts_ms, account_id, model, prompt_text, system_text, n_messages, n_user_turns"


@pytest.fixture(scope="module")
def harvest(tiny_data: Path) -> tuple[list[dict], set[str]]:
    """The tiny simulated preset in contract form, and its attack request ids."""
    with gzip.open(tiny_data / "requests.jsonl.gz", "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    with open(tiny_data / "request_labels.csv", newline="") as fh:
        attack = {row["request_id"] for row in csv.DictReader(fh) if row["is_attack"] == "1"}
    return records, attack


def _run(logs: list[Path], base: Path, report: bool = True) -> tuple[dict, list[tuple], set[str]]:
    summary = detect(logs, out=base / "out", store=base / "store", progress=False, workers=1,
                     report=report)
    with Store(base / "store") as st:
        rows = st.con.execute(f"SELECT {STORED} FROM requests ORDER BY request_id").fetchall()
    flagged = set(pq.read_table(base / "out" / "requests.parquet").column("request_id").to_pylist())
    return summary, rows, flagged


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_format_matches_contract_form(tmp_path, harvest, name):
    records, attack = harvest
    files, reference = write_sample(name, records, tmp_path / "native")

    got, rows, flagged = _run(files, tmp_path / "a")
    # The contract-form run needs no report.html (nothing here reads it; a fifth of a run):
    # the format's own run still writes it.
    want, ref_rows, ref_flagged = _run([reference], tmp_path / "b", report=False)

    counts = got["counts"]
    assert counts["requests_accepted"] == len(records), got["quarantine"]["this_run"]
    assert counts["requests_quarantined"] == 0
    assert got["formats"] == {name: 1}
    assert want["formats"] == {"contract": 1}
    assert got["mode"] == "full"
    assert (tmp_path / "a" / "out" / "report.html").is_file()
    assert not (tmp_path / "b" / "out" / "report.html").exists()  # report=False
    assert rows == ref_rows  # same text, account, time, model, turns per request
    assert all(r[4] for r in rows)  # every record has its prompt text
    assert flagged == ref_flagged
    assert flagged & attack  # and the harvest requests are among them


@pytest.mark.parametrize("name", ["litellm", "contract"])
def test_a_too_deeply_nested_line_is_quarantined_not_a_crash(tmp_path, harvest, name):
    # json.loads recurses once per level: a 5,000-level line must not stop the run.
    records = harvest[0][:20]
    if name == "contract":
        path = _jsonl_lines(tmp_path / "log.jsonl", [json.dumps(r) for r in records])
    else:
        files, _ = write_sample(name, records, tmp_path / "native")
        path = files[0]
    deep = '{"request_id": "deep", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([deep, *lines[:10], deep, *lines[10:]]) + "\n")

    with Store(tmp_path / "store") as st:
        res = st.ingest([path])
        reasons = [r[0] for r in st.con.execute("SELECT reason FROM quarantine").fetchall()]
    assert res.accepted == len(records)
    assert res.quarantined == 2 and len(reasons) == 2 and all(reasons)


def _jsonl_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    return path
