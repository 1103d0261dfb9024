"""Spark A/B of only the numbered tables (blocks, sizes) of lockstep, base SQL vs new,
interleaved, 5 reps, on medium-w101's real keys x1 and x10 (ten disjoint copies: ~`large`).

A record of the run as made: the paths name the run's base source tree, a patched tree
(lockstep-bucket-numbering.patch applied) and a DuckDB detect store of medium-w101; point them
at your own to rerun."""
import sys
import time

import duckdb

sys.path.insert(0, "/work/wt-spark/src")
from distillguard.coordination import lockstep as new  # noqa: E402
from distillguard.engines.spark.engine import SparkEngine  # noqa: E402
from distillguard.engines.spark.session import spark_session  # noqa: E402

ns: dict = {}
src = open("/work/scratch/spark10/base-src/distillguard/coordination/lockstep.py").read()
exec(compile(src.replace("from ..", "from distillguard."), "base_lockstep", "exec"), ns)
con = duckdb.connect("/work/scratch/spark10/out-base/store_duckdb/store.duckdb", read_only=True)
eng = SparkEngine(spark_session("local[2]", shuffle_partitions=64))  # the pipeline's setting
units = {"lockstep": {}, "lockstep_daily": {"bucket_minutes": 1440, "action": "template"}}
for copies in (1, 10):
    for p in units:
        eng.register_arrow(f"{p}_keys", con.execute(
            f"SELECT account_id || '#' || c AS account_id, k || '#' || c AS k "
            f"FROM {p}_keys, range({copies}) r(c)").to_arrow_table())
    res: dict = {"base": [], "new": []}
    for rep in range(5):
        order = (("base", ns["Lockstep"]), ("new", new.Lockstep))
        for tag, cls in order if rep % 2 == 0 else order[::-1]:
            t = 0.0
            for p, kw in units.items():
                sql = cls(name=p, **kw).sql()
                for name in (f"{p}_blocks", f"{p}_sizes"):
                    t0 = time.perf_counter()
                    eng.create_table(name, sql[name])
                    t += time.perf_counter() - t0
            res[tag].append(round(t, 2))
    for tag, v in res.items():
        print(f"x{copies} {tag}: blocks+sizes (both units) median {sorted(v)[2]:.2f} s, runs {v}",
              flush=True)
