"""The output writer checks the contract before writing and says which stage broke it."""

from __future__ import annotations

import csv
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillguard import contract
from distillguard.engines.outputs import (
    OutputContractError,
    validate_outputs,
    write_outputs,
    write_summary,
)

# StoreEngine is DuckDBEngine with a has_table that drains its result (duckdb 2.0).
from distillguard.ingest.store import StoreEngine as DuckDBEngine


def _engine(accounts=None, clusters=None, requests=None) -> DuckDBEngine:
    con = duckdb.connect()
    con.execute("CREATE TABLE requests (request_id VARCHAR, account_id VARCHAR)")
    con.execute("INSERT INTO requests VALUES ('r1','a1'), ('r2','a1'), ('r3','a2'), ('r4','a3')")
    con.execute("CREATE TABLE accounts (account_id VARCHAR)")
    con.execute("INSERT INTO accounts VALUES ('a4')")
    eng = DuckDBEngine(con)
    eng.register_arrow("out_accounts", accounts if accounts is not None else pa.table({
        "account_id": ["a1", "a2", "a3"],
        "risk": [0.91, 0.85, 0.05],
        "verdict": ["attack", "review", "benign"],
        "cluster_id": ["c1", "c1", None],
        "reasons": ["shared template; synchronised", "shared payment", ""],
    }))
    eng.register_arrow("out_clusters", clusters if clusters is not None else pa.table({
        "cluster_id": ["c1"], "n_accounts": pa.array([2], pa.int64()), "risk": [0.9],
        "verdict": ["attack"], "capabilities": ["math"], "reasons": ["shared template"],
    }))
    eng.register_arrow("out_requests", requests if requests is not None else pa.table({
        "request_id": ["r1", "r3"], "account_id": ["a1", "a2"], "risk": [0.9, 0.7],
        "signals": ["cot_elicitation", "rubric_grading"],
    }))
    return eng


def test_valid_outputs_are_written_with_exact_columns(tmp_path):
    eng = _engine()
    assert validate_outputs(eng) == {"out_accounts": 3, "out_clusters": 1, "out_requests": 2}
    written = write_outputs(eng, tmp_path)
    assert sorted(written) == ["accounts.csv", "clusters.csv", "requests.parquet"]
    with open(tmp_path / "accounts.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == contract.OUTPUT_ACCOUNT_COLUMNS
    assert [r[0] for r in rows[1:]] == ["a1", "a2", "a3"]  # highest risk first
    assert rows[3][3] == ""  # no cluster: empty
    with open(tmp_path / "clusters.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == contract.OUTPUT_CLUSTER_COLUMNS
    t = pq.read_table(tmp_path / "requests.parquet")
    assert tuple(t.column_names) == contract.OUTPUT_REQUEST_COLUMNS
    write_summary({"counts": {"x": 1}}, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == {"counts": {"x": 1}}
    assert not list(tmp_path.glob(".*tmp"))


def _acc(**over):
    base = {
        "account_id": ["a1", "a2", "a3"], "risk": [0.91, 0.85, 0.05],
        "verdict": ["attack", "review", "benign"], "cluster_id": ["c1", "c1", None],
        "reasons": ["x", "y", ""],
    }
    base.update(over)
    return pa.table(base)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"accounts": _acc(risk=[1.2, 0.5, 0.1])}, "risk NULL or outside"),
        ({"accounts": _acc(risk=[None, 0.5, 0.1])}, "risk NULL or outside"),
        ({"accounts": _acc(verdict=["attack", "ban", "benign"])}, "not in"),
        ({"accounts": pa.table({"account_id": ["a1", "a2"], "risk": [0.1, 0.2],
                                "verdict": ["benign"] * 2, "cluster_id": ["c1", "c1"],
                                "reasons": ["", ""]})}, "no row for account"),
        ({"accounts": pa.table({"account_id": ["a1", "a2", "a3", "a3"], "risk": [0.1] * 4,
                                "verdict": ["benign"] * 4, "cluster_id": ["c1", "c1", None, None],
                                "reasons": [""] * 4})}, "repeated"),
        ({"accounts": pa.table({"account_id": ["a1", "a2", "a3", "zz"], "risk": [0.1] * 4,
                                "verdict": ["benign"] * 4, "cluster_id": ["c1", "c1", None, None],
                                "reasons": [""] * 4})}, "never seen"),
        ({"accounts": _acc().select(["account_id", "verdict", "risk", "cluster_id", "reasons"])},
         "expected exactly"),
        ({"accounts": _acc(cluster_id=["c1", "c9", None])}, "missing from out_clusters"),
        ({"clusters": pa.table({"cluster_id": ["c1"], "n_accounts": pa.array([5], pa.int64()),
                                "risk": [0.9], "verdict": ["attack"], "capabilities": ["math"],
                                "reasons": [""]})}, "n_accounts differs"),
        ({"requests": pa.table({"request_id": ["r1"], "account_id": ["a2"], "risk": [0.5],
                                "signals": [""]})}, "not in the input"),
        ({"requests": pa.table({"request_id": ["r1"], "account_id": ["a1"], "risk": ["high"],
                                "signals": [""]})}, "has type"),
    ],
)
def test_contract_violations_raise_a_clear_error(kwargs, message):
    with pytest.raises(OutputContractError, match=message):
        validate_outputs(_engine(**kwargs))


def test_account_known_only_from_account_table_is_allowed():
    acc = _acc(account_id=["a1", "a2", "a3"])
    acc = pa.concat_tables([acc, pa.table({
        "account_id": ["a4"], "risk": [0.0], "verdict": ["benign"],
        "cluster_id": pa.array([None], pa.string()), "reasons": [""]})])
    assert validate_outputs(_engine(accounts=acc))["out_accounts"] == 4


def test_missing_table_is_named():
    con = duckdb.connect()
    con.execute("CREATE TABLE requests (request_id VARCHAR, account_id VARCHAR)")
    with pytest.raises(OutputContractError, match="out_accounts: the table is missing"):
        validate_outputs(DuckDBEngine(con))
