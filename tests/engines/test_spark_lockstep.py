"""Lockstep on both engines from the same keys: its block and account numbers are distinct
and its per-account columns (peers, Jaccard) are equal. (Numbering without the one-task
unpartitioned window was tried and measured slower: docs/experiments/lockstep-bucket-numbering.md.)"""

from __future__ import annotations

import pyarrow as pa
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]

# 300 accounts over 40 keys, every account on 3 keys: blocks of ~20 accounts, many pairs.
KEYS = pa.table(
    {
        "account_id": [f"acct_{a:04d}" for a in range(300) for _ in range(3)],
        "k": [f"{(a * 7 + d * 13) % 40}@m|code" for a in range(300) for d in range(3)],
    }
)


def _tables(unit, engine) -> None:
    """The unit's tables after ``<name>_keys``, built from ``KEYS`` on ``engine``."""
    engine.register_arrow(f"{unit.name}_keys", KEYS)
    for name, sql in list(unit.sql().items())[1:]:
        engine.create_table(name, sql)


def test_numbers_distinct_and_lockstep_equal_on_both_engines(spark):
    from distillguard.coordination.lockstep import Lockstep
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine

    unit = Lockstep(name="ls_eq")
    duck, spk = DuckDBEngine(), SparkEngine(spark)
    results = []
    for engine in (duck, spk):
        _tables(unit, engine)
        for table, col, n in (("ls_eq_blocks", "j", 40), ("ls_eq_sizes", "i", 300)):
            row = engine.fetch_arrow(
                f"SELECT count(*) AS n, count(DISTINCT {col}) AS d FROM {table}"
            ).to_pylist()[0]
            assert row == {"n": n, "d": n}, (engine.name, table, row)
        results.append(
            engine.fetch_arrow("SELECT * FROM account_ls_eq ORDER BY account_id").to_pylist()
        )
    assert results[0] == results[1]
    assert len(results[0]) == 300 and max(r["ls_eq_peers"] for r in results[0]) > 0
