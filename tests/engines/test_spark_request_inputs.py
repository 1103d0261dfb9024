"""The learned request model's inputs (``definitions.REQUEST_INPUTS``) are the same on Spark as
on the embedded DuckDB, given the same upstream tables."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# The tables REQUEST_INPUTS reads, as the embedded analyze left them.
UPSTREAM = ("request_keys", "requests", "score_accounts", "cluster_templates", "attack_templates")


def test_request_inputs_equal_on_both_engines(lt, spark):
    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.scoring import definitions as d
    from distillguard.scoring.request_model import INPUT_NAMES

    _, duck, _ = lt.analyzed(0, "none", "none")
    spk = SparkEngine(spark)
    for table in UPSTREAM:
        spk.register_arrow(table, duck.fetch_arrow(f"SELECT * FROM {table}"))
    new_model = duck.fetch_arrow("SELECT max(model) AS m FROM requests").column("m")[0].as_py()
    sql = d.REQUEST_INPUTS.format(new_model=new_model, thr=0.5, candidates="TRUE")
    query = f"SELECT * FROM ({sql}) t ORDER BY request_id"
    a, b = duck.fetch_arrow(query), spk.fetch_arrow(query)
    assert a.num_rows == b.num_rows > 1000
    assert a.column("request_id").to_pylist() == b.column("request_id").to_pylist()
    for name in INPUT_NAMES:
        x = np.asarray(a.column(name).to_numpy(zero_copy_only=False), float)
        y = np.asarray(b.column(name).to_numpy(zero_copy_only=False), float)
        assert np.allclose(x, y, equal_nan=True), (name, np.flatnonzero(~np.isclose(x, y))[:5])
    # The data exercises the inputs: a one-off and a shared value of each kind.
    share = np.asarray(a.column("ip_share").to_numpy(zero_copy_only=False), float)
    assert (share == 0).any() and (share > 0.5).any()
