"""The equivalence test: embedded DuckDB and Spark on the same simulated data set.

Tolerances (stated, and what they are for):
- verdicts: the same for ≥ 99% of accounts;
- clusters: adjusted Rand index ≥ 0.95 between the two engines' account → cluster labels
  (unclustered accounts each count as their own singleton);
- risk: |Δ| ≤ 0.02 for ≥ 99% of accounts, and ≤ 0.10 for all of them;
- ingest, quarantine and templates: identical (the same code runs on both engines).
The only sources of difference allowed are floating-point summation order in aggregates and
the order in which Leiden visits nodes when the edge lists arrive in a different order.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def both(tiny_data: Path, tiny_findings, spark, tmp_path_factory: pytest.TempPathFactory):
    """The Spark run here; the embedded run is the session's ``tiny_findings`` (the same
    logs, account table and defaults), linked as ``out_duckdb`` and ``store_duckdb``."""
    from distillguard.engines import spark as spark_engine

    root = tmp_path_factory.mktemp("equiv")
    logs = [tiny_data / "requests.jsonl.gz"]
    accounts = tiny_data / "accounts.csv"
    emb_root, emb = tiny_findings
    (root / "out_duckdb").symlink_to(emb_root / "findings", target_is_directory=True)
    (root / "store_duckdb").symlink_to(emb_root / "store", target_is_directory=True)
    spk = spark_engine.detect(logs, root / "out_spark", accounts=accounts,
                              store=root / "store_spark", progress=False, spark=spark)
    return root, emb, spk


def _accounts(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as fh:
        return {r["account_id"]: r for r in csv.DictReader(fh)}


def test_same_outputs_files_and_ingest(both):
    root, emb, spk = both
    for name in ("accounts.csv", "clusters.csv", "requests.parquet", "report.html",
                 "summary.json"):
        assert (root / "out_spark" / name).is_file(), name
    assert spk["engine"] == "spark"
    assert set(spk) >= set(emb) - {"engine"}
    for key in ("requests_accepted", "requests_quarantined", "requests_in_store",
                "account_table_rows", "accounts"):
        assert spk["counts"][key] == emb["counts"][key], key
    assert spk["quarantine"]["this_run"] == emb["quarantine"]["this_run"]


def test_same_templates(both):
    """Distributed LSH stars + connected components give exactly the embedded templates."""
    import duckdb

    root, _, _ = both
    con = duckdb.connect(str(root / "store_duckdb" / "store.duckdb"), read_only=True)
    want = dict(con.execute("SELECT skeleton_hash, template_id FROM templates").fetchall())
    con.close()
    files = sorted((root / "store_spark" / "spark" / "tables" / "templates").glob("*/*.parquet"))
    got_t = pq.ParquetDataset([str(f) for f in files]).read()
    got = dict(zip((int(x) for x in got_t.column("skeleton_hash").to_pylist()),
                   (int(x) for x in got_t.column("template_id").to_pylist()), strict=True))
    assert len(want) > 100
    assert got == {int(k): int(v) for k, v in want.items()}


def test_same_verdicts_clusters_and_risk(both):
    from sklearn.metrics import adjusted_rand_score

    root, _, _ = both
    a = _accounts(root / "out_duckdb" / "accounts.csv")
    b = _accounts(root / "out_spark" / "accounts.csv")
    assert set(a) == set(b) and len(a) > 100
    ids = sorted(a)
    same = np.mean([a[i]["verdict"] == b[i]["verdict"] for i in ids])
    assert same >= 0.99, f"verdicts agree on {same:.2%} of accounts"
    assert any(a[i]["verdict"] == "attack" for i in ids)

    def labels(rows: dict[str, dict[str, str]]) -> list[str]:
        return [rows[i]["cluster_id"] or f"solo:{i}" for i in ids]

    ari = adjusted_rand_score(labels(a), labels(b))
    assert ari >= 0.95, f"adjusted Rand index {ari:.3f}"
    assert any(a[i]["cluster_id"] for i in ids)

    diff = np.abs(np.array([float(a[i]["risk"]) - float(b[i]["risk"]) for i in ids]))
    assert np.mean(diff <= 0.02) >= 0.99, f"risk differs by > 0.02 on {np.mean(diff > 0.02):.2%}"
    assert diff.max() <= 0.10, f"max risk difference {diff.max():.3f}"


def test_incremental_run_skips_ingested_files(both, spark):
    """A second run over the same logs reads nothing new and keeps the verdicts."""
    from distillguard.engines import spark as spark_engine

    root, _, first = both
    logs = sorted(Path(first["inputs"]["logs"][0]).parent.glob("requests.jsonl.gz"))
    again = spark_engine.detect(logs, root / "out_spark2", store=root / "store_spark",
                                progress=False, spark=spark)
    assert again["counts"]["files_read"] == 0 and again["counts"]["files_skipped"] == 1
    assert again["counts"]["requests_in_store"] == first["counts"]["requests_in_store"]
    assert again["templates"]["new_skeletons"] == 0
    assert again["accounts_by_verdict"] == first["accounts_by_verdict"]
