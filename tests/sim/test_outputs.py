"""Determinism, output formats and the built-in text fallback of ``simulate``."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq

from distillguard.sim import CAMPAIGN_TYPES, HARD_BENIGN_PERSONAS, simulate


def read_log(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


FILES = ("requests.jsonl.gz", "accounts.csv", "labels.csv", "request_labels.csv", "scenario.yaml")


def test_same_seed_same_bytes_other_seed_other_bytes(tiny_data: Path, tmp_path: Path):
    again = simulate("tiny", out=tmp_path / "again", seed=7, progress=False)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (tiny_data / name).read_bytes(), name
    other = simulate("tiny", out=tmp_path / "other", seed=8, progress=False)
    for name in ("requests.jsonl.gz", "accounts.csv", "labels.csv", "request_labels.csv"):
        assert (tmp_path / "other" / name).read_bytes() != (tiny_data / name).read_bytes(), name
    assert again["requests"] > 0 and other["requests"] > 0
    # Same personas and campaigns, different draws.
    assert set(again["campaigns"]) == set(other["campaigns"])


def test_summary_matches_files(tiny):
    s = tiny["summary"]
    assert s["requests"] == len(tiny["records"])
    assert s["accounts"] == len(tiny["accounts"])
    assert s["attack_requests"] == sum(r["_attack"] for r in tiny["records"])
    assert sum(c["attack_requests"] for c in s["campaigns"].values()) == s["attack_requests"]
    assert s["requests_per_second"] > 0 and s["time_sorted"] is False
    written = json.loads((tiny["dir"] / "sim_summary.json").read_text())
    assert written["requests"] == s["requests"]


def test_builtin_text_fallback_without_corpora(tmp_path: Path, contract_problems):
    """A fresh machine: no corpora. The built-in generator must give a complete data set."""
    s = simulate("tiny", out=tmp_path / "fb", seed=3, progress=False, use_corpora=False)
    assert s["text_source"] == "builtin"
    records = read_log(tmp_path / "fb" / "requests.jsonl.gz")
    assert all(not contract_problems(r) for r in records)
    personas = {r["persona"] for r in read_csv(tmp_path / "fb" / "labels.csv")}
    assert set(HARD_BENIGN_PERSONAS) | set(CAMPAIGN_TYPES) <= personas
    texts = {m["content"] for r in records for m in r["messages"] if m["role"] == "user"}
    assert len(texts) > 1000  # varied text, not a handful of fixed strings
    assert any("How many" in t for t in texts)  # generated math word problems
    # An empty corpora folder also falls back, pool by pool.
    empty = tmp_path / "empty"
    empty.mkdir()
    s2 = simulate("tiny", out=tmp_path / "fb2", seed=3, progress=False, corpora=empty)
    assert s2["requests"] > 4000


def test_parquet_output(tmp_path: Path, tiny_data: Path):
    s = simulate("tiny", out=tmp_path / "pq", seed=7, fmt="parquet", progress=False)
    table = pq.read_table(tmp_path / "pq" / "requests.parquet")
    assert table.num_rows == s["requests"] == len(read_csv(tiny_data / "request_labels.csv"))
    assert table.schema.field("messages").type.value_type.names == ["role", "content"]
    row = table.slice(0, 1).to_pylist()[0]
    assert row["request_id"].startswith("req_") and row["messages"][-1]["role"] == "user"
    # Same requests as the JSON Lines file of the same seed.
    jl = {r["request_id"]: r for r in read_log(tiny_data / "requests.jsonl.gz")}
    for rec in table.slice(0, 200).to_pylist():
        ref = jl[rec["request_id"]]
        assert (
            rec["messages"] == ref["messages"] and rec["ip"] == ref["ip"] and rec["ts"] == ref["ts"]
        )
