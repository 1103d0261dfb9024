"""Both engines group skeletons into the same templates from one definition.

Tiny hand-made worlds (skeleton hashes and band keys given directly, no featurizing), each run
through the embedded ``TemplateIndex`` and Spark's ``update_templates`` (driver and executor
components), one run or day by day; templates and every run statistic (star edges included)
must be equal. Each world pins a rule the two engines once wrote separately:

- the dominance rule at its exact boundary (7 skeletons beside a biggest bucket of 350 are
  kept: ``50 * 7 >= 350``; the rule was a DECIMAL product in DuckDB and a DOUBLE one in Spark);
- the unsigned order of hashes ≥ 2^63 (the smallest id wins, as uint64, not as int64);
- an existing template's skeleton count on its band keys in a later run (Spark's
  ``template_bands`` lost ``n_skeletons``, so a template weighed 1: on the old code this
  world fails; the other two give the same templates there).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

pytestmark = [pytest.mark.spark]

HIGH = 1 << 63  # hashes at or above it are negative as int64


def _requests(rows: list[tuple[int, list[int]]]) -> pa.Table:
    return pa.table({
        "skeleton_hash": pa.array([h for h, _ in rows], pa.uint64()),
        "lsh_bands": pa.array([b for _, b in rows], pa.list_(pa.uint64())),
    })


def _embedded(days: list[pa.Table]) -> tuple[dict[int, int], list[dict]]:
    from distillguard.signals.templates import TemplateIndex

    con = duckdb.connect()
    stats = []
    for day in days:
        con.register("_day", day)
        con.execute("CREATE OR REPLACE TABLE requests AS SELECT * FROM _day")
        con.unregister("_day")
        stats.append(TemplateIndex(con).update())
    got = dict(con.execute("SELECT skeleton_hash, template_id FROM templates").fetchall())
    return {int(k): int(v) for k, v in got.items()}, stats


def _spark(spark, days: list[pa.Table], driver_max_edges: int
           ) -> tuple[dict[int, int], list, list[str]]:
    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.engines.spark.templates import update_templates

    eng = SparkEngine(spark)
    old_t = old_b = None
    stats = []
    for day in days:
        eng.register_arrow("requests", day)
        t, b, s = update_templates(eng, old_t, old_b, driver_max_edges=driver_max_edges)
        old_t = eng.register_df("tpl_test", t)
        old_b = eng.register_df("bands_test", b)
        stats.append(s)
    return {int(r[0]): int(r[1]) for r in old_t.collect()}, stats, old_b.columns


def _dominance_world() -> pa.Table:
    # 350 skeletons share band 1 (their wrapper); skeleton W is one of them and also carries
    # band 2, which 6 other skeletons carry as their biggest bucket: 7 * 50 >= 350 keeps it.
    wrapper = [(1000 + i, [1, 10_000 + i]) for i in range(349)]
    w = (HIGH + 5, [1, 2])
    payload = [(500 + i, [2, 20_000 + i]) for i in range(6)]
    return _requests([*wrapper, w, *payload])


def _unsigned_world() -> list[pa.Table]:
    # day 1: two templates, one with ids above 2^63; day 2: a bridge joins them, and a new
    # group mixes high and low hashes
    a = [(HIGH + 1 + i, [7, 70 + i]) for i in range(4)]
    b = [(3 + i, [8, 80 + i]) for i in range(4)]
    day1 = _requests([*a, *b])
    bridge = [(HIGH + 100 + i, [7, 8]) for i in range(3)]
    mixed = [(HIGH + 200, [9]), (2**64 - 1, [9]), (40, [9]), (HIGH - 1, [9])]
    return [day1, _requests([*bridge, *mixed])]


def _counts_world() -> list[pa.Table]:
    # day 1: a template of 10 skeletons on band 5; day 2: one more skeleton on band 5. The
    # bucket holds 11 skeletons (>= min_bucket) only if the template weighs its 10.
    day1 = _requests([(100 + i, [5, 500 + i]) for i in range(10)])
    return [day1, _requests([(999, [5, 9990])])]


# Every world on the driver's component labeller; the executors' labeller (components by their
# smallest node) on the world whose ids cross 2^63, where the order matters. Each case is a
# Spark run of ~20 s, so not every pair is run.
@pytest.mark.parametrize(
    ("world", "driver_max_edges"),
    [("dominance", 5_000_000), ("unsigned", 5_000_000), ("counts", 5_000_000), ("unsigned", 0)],
    ids=["driver-dominance", "driver-unsigned", "driver-counts", "executors-unsigned"],
)
def test_engines_assign_identical_templates(spark, world: str, driver_max_edges: int) -> None:
    days = {
        "dominance": lambda: [_dominance_world()],
        "unsigned": _unsigned_world,
        "counts": _counts_world,
    }[world]()
    want, want_stats = _embedded(days)
    got, got_stats, band_columns = _spark(spark, days, driver_max_edges)
    assert got == want
    assert "n_skeletons" in band_columns  # carried to the next run
    for w, g in zip(want_stats, got_stats, strict=True):
        for key in ("new_skeletons", "buckets", "buckets_ignored", "star_edges",
                    "joined_existing", "new_templates", "merged_templates"):
            assert g[key] == w[key], (key, w, g)
    # what each world pins, so a rule that drifts in both engines is caught too
    if world == "dominance":
        assert want[HIGH + 5] == want[500] == want[1000] == 500
    elif world == "unsigned":
        assert {want[h] for h in (HIGH + 1, 3, HIGH + 100)} == {3}  # merged: 3 < 2^63 + 1
        assert want[2**64 - 1] == want[HIGH + 200] == 40  # unsigned minimum, not HIGH + 200
    else:
        assert want[999] == want[100]


def test_dominance_is_an_integer_rule() -> None:
    """``n >= top / 50`` decided in integers: kept at 7 of 350, dropped at 6 of 350."""
    from distillguard.signals.templates import star_edges_sql

    con = duckdb.connect()
    con.execute("CREATE TABLE m (node BIGINT, band BIGINT, w BIGINT)")
    # node 0: biggest bucket 350 (band 1), band 2 holds 7; node 2: biggest 350, band 4 holds 6
    con.execute("INSERT INTO m VALUES (0, 1, 349), (9, 1, 1), (0, 2, 1), (1, 2, 6), "
                "(2, 3, 349), (8, 3, 1), (2, 4, 1), (3, 4, 5)")
    con.execute("CREATE TABLE k AS SELECT band, sum(w) AS n, count(*) AS nodes FROM m "
                "GROUP BY band")
    edges = set(con.execute(star_edges_sql("m", "k", 3, 1_000_000)).fetchall())
    assert (1, 0) in edges  # 7 >= 350 / 50
    assert (3, 2) not in edges and (2, 3) not in edges  # 6 < 350 / 50


def _driver(spark, days: list[pa.Table], root) -> tuple[dict[int, int], list]:
    """Spark's local-mode path: the embedded index in a driver DuckDB over the store's
    Parquet files (hashes as DECIMAL(20,0), day folders), the index carried between runs
    through the warehouse as the pipeline carries it."""
    import pyarrow.parquet as pq

    from distillguard.engines.spark.engine import SparkEngine, to_spark_arrow
    from distillguard.engines.spark.templates import update_templates_on_driver

    eng = SparkEngine(spark, warehouse=str(root / "tables"))
    folder = root / "requests"
    stats = []
    for i, day in enumerate(days):
        (folder / f"day={i}").mkdir(parents=True)
        pq.write_table(to_spark_arrow(day)[0], folder / f"day={i}" / "part-0.parquet")
        t, b, s = update_templates_on_driver(
            eng, folder, root / "spool", eng.table_path("templates"),
            eng.table_path("template_bands"))
        assert dict(t.dtypes) == {"skeleton_hash": "decimal(20,0)", "template_id": "decimal(20,0)"}
        tpl = eng.register_df("templates", t)
        eng.register_df("template_bands", b)
        stats.append(s)
    return {int(r[0]): int(r[1]) for r in tpl.collect()}, stats


@pytest.mark.parametrize("world", ["unsigned", "counts"])
def test_driver_index_is_the_embedded_index(spark, tmp_path, world: str) -> None:
    """Local mode runs ``TemplateIndex`` itself on the driver: the same templates and
    statistics as the embedded engine, day by day (the previous index read back from the
    warehouse, hashes ≥ 2^63 through DECIMAL(20,0) and back)."""
    days = {"unsigned": _unsigned_world, "counts": _counts_world}[world]()
    want, want_stats = _embedded(days)
    got, got_stats = _driver(spark, days, tmp_path)
    assert got == want
    for w, g in zip(want_stats, got_stats, strict=True):
        for key in ("new_skeletons", "star_edges", "joined_existing", "new_templates",
                    "merged_templates"):
            assert g[key] == w[key], (key, w, g)
    assert not list((tmp_path / "spool").glob("templates-*"))  # its scratch files are gone
