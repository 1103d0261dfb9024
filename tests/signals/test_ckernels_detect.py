"""``detect`` with the compiled featurize kernels against the numpy code (the implementation
before them), on the simulator's ``tiny`` preset: the request signals, the template of every
request and the account findings are equal."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from distillguard.contract import TEXT_FEATURE_SCHEMA
from distillguard.signals import ckernels

pytestmark = pytest.mark.skipif(ckernels.lib() is None, reason="no C compiler: numpy paths only")

FEATURES = ", ".join(f.name for f in TEXT_FEATURE_SCHEMA)


def _run(data: Path, tmp: Path) -> tuple[list, list, list]:
    from distillguard.engines.embedded import detect

    detect(logs=[data / "requests.jsonl.gz"], accounts=data / "accounts.csv", out=tmp / "out",
           store=tmp / "store", progress=False, workers=1)
    con = duckdb.connect(str(tmp / "store" / "store.duckdb"), read_only=True)
    try:
        feats = con.sql(f"SELECT request_id, {FEATURES} FROM requests ORDER BY request_id").fetchall()
        tpl = con.sql(
            "SELECT r.request_id, t.template_id FROM requests r "
            "LEFT JOIN templates t USING (skeleton_hash) ORDER BY r.request_id"
        ).fetchall()
    finally:
        con.close()
    with open(tmp / "out" / "accounts.csv", newline="") as fh:
        accounts = sorted((r["account_id"], r["verdict"], r["cluster_id"]) for r in csv.DictReader(fh))
    return feats, tpl, accounts


def test_detect_outputs_equal_with_and_without_the_kernels(tiny_data, tmp_path, monkeypatch):
    fast = _run(tiny_data, tmp_path / "c")
    monkeypatch.setattr(ckernels, "lib", lambda: None)
    ref = _run(tiny_data, tmp_path / "numpy")
    assert len(fast[0]) > 1000
    assert fast[0] == ref[0], "request signals and sketches"
    assert fast[1] == ref[1], "template of every request"
    assert fast[2] == ref[2], "account verdicts and clusters"
