"""The evidence units give the same account features on Spark as on the embedded DuckDB, and
the accounts' comparable-cohort keys (route kind, client kind) are the same: batch ranks
evidence within them on either engine."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _by_account(features, columns):
    ids = features.column("account_id").to_pylist()
    return {
        c: dict(
            zip(
                ids,
                np.asarray(features.column(c).to_numpy(zero_copy_only=False), float),
                strict=True,
            )
        )
        for c in columns
    }


# A column each registry's data must exercise (not all zero), so equality is not vacuous.
EXERCISED = {"DEFAULT_UNITS": ("lockstep_daily_peers", "harvest_circle")}


@pytest.mark.parametrize("registry", sorted(EXERCISED))
def test_unit_columns_equal_on_both_engines(lt, spark, registry):
    from distillguard.accounts import units
    from distillguard.accounts.fingerprint import AccountFingerprinter
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine

    names = getattr(units, registry)
    duck = DuckDBEngine()
    lt.load(duck, lt.build(0, n_benign=60))
    spk = SparkEngine(spark)
    for table in ("requests", "accounts"):
        spk.register_arrow(table, duck.fetch_arrow(f"SELECT * FROM {table}"))
    cols = [c for name in names for c in units.make_unit(name).output_columns()]
    a = _by_account(AccountFingerprinter(units=names).fit(duck).features_, cols)
    b = _by_account(AccountFingerprinter(units=names).fit(spk).features_, cols)
    for c in cols:
        assert a[c].keys() == b[c].keys(), c
        ids = sorted(a[c])
        assert np.allclose([a[c][i] for i in ids], [b[c][i] for i in ids], equal_nan=True), c
    assert all(np.nanmax(list(a[c].values())) > 0 for c in EXERCISED[registry])


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
