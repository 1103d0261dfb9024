"""Circle links read the same rows on Spark as on the embedded DuckDB (the SQL is the common
subset both engines run), so batch on either engine links the same accounts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_circle_link_rows_and_links_equal_on_both_engines(lt):
    from distillguard.accounts.fingerprint import AccountFingerprinter
    from distillguard.coordination.circle_link import CIRCLE_LINK_ROWS, circle_links
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.engines.spark.session import spark_session

    duck = DuckDBEngine()
    lt.load(duck, lt.build(0, n_benign=60))
    spk = SparkEngine(spark_session("local[2]", shuffle_partitions=4))
    for table in ("requests", "accounts"):
        spk.register_arrow(table, duck.fetch_arrow(f"SELECT * FROM {table}"))
    for engine in (duck, spk):
        AccountFingerprinter(units=("harvest_circle",)).fit(engine)
    key = ["template", "account_id"]
    a, b = (e.fetch_arrow(CIRCLE_LINK_ROWS).sort_by([(k, "ascending") for k in key])
            for e in (duck, spk))
    assert a.num_rows > 0 and a.to_pylist() == b.select(a.column_names).to_pylist()
    # campaign D (five unrelated homes on one wording): a risk that puts two of it at attack
    ids = sorted(r["account_id"] for r in lt.build(0, n_benign=60).labels)
    risk = np.array([0.95 if i in ("atkD0", "atkD1") else 0.7 if i.startswith("atkD") else 0.0
                     for i in ids])
    got = [sorted(circle_links(e, pa.array(ids), risk, 0.5, 0.9)) for e in (duck, spk)]
    # all of D at review but the first user of its wording (whom the others may have copied)
    first = min((r for r in a.to_pylist() if r["account_id"].startswith("atkD")),
                key=lambda r: r["first_ts"])["account_id"]
    want = [x for x in ("atkD2", "atkD3", "atkD4") if x != first]
    assert got[0] == got[1] and [ids[i] for i in got[0]] == want and len(want) >= 2
