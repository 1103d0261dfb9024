"""The evidence units give the same account features on Spark as on the embedded DuckDB."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.engines.spark.session import missing_requirements

_MISSING = missing_requirements()
pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING is not None, reason=f"Spark tests skipped: {_MISSING}"),
]


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


def test_unit_columns_equal_on_both_engines(lt, spark):
    from distillguard.accounts.fingerprint import AccountFingerprinter
    from distillguard.accounts.units import DEFAULT_UNITS, make_unit
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine

    duck = DuckDBEngine()
    lt.load(duck, lt.build(0, n_benign=60))
    spk = SparkEngine(spark)
    for table in ("requests", "accounts"):
        spk.register_arrow(table, duck.fetch_arrow(f"SELECT * FROM {table}"))
    cols = [c for name in DEFAULT_UNITS for c in make_unit(name).output_columns()]
    a = _by_account(AccountFingerprinter().fit(duck).features_, cols)
    b = _by_account(AccountFingerprinter().fit(spk).features_, cols)
    for c in cols:
        assert a[c].keys() == b[c].keys(), c
        ids = sorted(a[c])
        assert np.allclose([a[c][i] for i in ids], [b[c][i] for i in ids], equal_nan=True), c
    assert np.nanmax(list(a["lockstep_daily_peers"].values())) > 0  # the data exercises it


def test_experimental_unit_columns_equal_on_both_engines(lt, spark):
    from distillguard.accounts.fingerprint import AccountFingerprinter
    from distillguard.accounts.units import EXPERIMENTAL_UNITS, make_unit
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine

    duck = DuckDBEngine()
    lt.load(duck, lt.build(0, n_benign=60))
    spk = SparkEngine(spark)
    for table in ("requests", "accounts"):
        spk.register_arrow(table, duck.fetch_arrow(f"SELECT * FROM {table}"))
    cols = [c for name in EXPERIMENTAL_UNITS for c in make_unit(name).output_columns()]
    a = _by_account(AccountFingerprinter(units=EXPERIMENTAL_UNITS).fit(duck).features_, cols)
    b = _by_account(AccountFingerprinter(units=EXPERIMENTAL_UNITS).fit(spk).features_, cols)
    for c in cols:
        ids = sorted(a[c])
        assert a[c].keys() == b[c].keys(), c
        assert np.allclose([a[c][i] for i in ids], [b[c][i] for i in ids], equal_nan=True), c
    assert np.nanmax(list(a["harvest_circle"].values())) > 0  # the data exercises it
