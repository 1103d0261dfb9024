"""The accounts' comparable-cohort keys (route kind, client kind) are the same on Spark as on
the embedded DuckDB: batch ranks evidence within them on either engine."""

from __future__ import annotations

import pytest

from distillguard.engines.spark.session import missing_requirements

_MISSING = missing_requirements()
pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING is not None, reason=f"Spark tests skipped: {_MISSING}"),
]


def test_cohort_keys_equal_on_both_engines(lt, spark):
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.scoring.definitions import ACCOUNT_COHORT_KEYS

    duck = DuckDBEngine()
    lt.load(duck, lt.build(0, n_benign=60))
    # the hand-written traffic is all `direct`: give some accounts cloud and reseller routes,
    # and some requests no route or user agent, so every branch is exercised
    varied = duck.fetch_arrow(
        "SELECT * REPLACE ("
        " CASE hash(account_id) % 5 WHEN 1 THEN 'cloud:bedrock' WHEN 2 THEN 'reseller:r1'"
        "  WHEN 3 THEN NULL ELSE access_route END AS access_route,"
        " CASE WHEN hash(request_id) % 7 = 0 THEN NULL ELSE user_agent END AS user_agent)"
        " FROM requests"
    )
    duck.register_arrow("requests", varied)
    spk = SparkEngine(spark)
    spk.register_arrow("requests", varied)
    order = " ORDER BY account_id"
    a = duck.fetch_arrow(ACCOUNT_COHORT_KEYS + order).to_pylist()
    b = spk.fetch_arrow(ACCOUNT_COHORT_KEYS + order).to_pylist()
    assert a == b
    assert {r["route_kind"] for r in a} == {"direct", "cloud", "reseller", None}
    assert {r["client_kind"] for r in a} >= {"browser", "program"}
