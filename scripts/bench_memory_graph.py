"""Memory of the coordination graph and Leiden alone, at any scale (issue 15 §2).

``dump``: runs ``analyze`` on a copy of a kept store (``detect --store``) up to the edge
statement and writes its raw rows (account_id, key_kind, key, n, n_requests, deg, owner) to
Parquet. ``make``: stores COPIES disjoint copies of them (accounts, owners and keys prefixed by
the copy, so degrees and template windows stay as they were), shuffled as an engine streams
them, in a DuckDB file: 7 copies of the first 2 days of `large` make ~4.0M edges, `large`'s
4.02M. ``run``: ``EdgeBuilder.fit`` (reading that table, weighting, sorting, registering
``graph_edges``) then ``LeidenClusterer.fit`` under the analysis limit (477 MiB), then the risk and evidence
stages' readers of the members' edges (``ClusterScorer.fit``, ``_shared_key_of_members``),
printing each step's peak RSS (``VmHWM``, reset per step), CPU seconds and a digest of the clusters and
cluster keys (equal digests: same results).

    PYTHONPATH=src python scripts/bench_memory_graph.py dump STORE RAW.parquet
    PYTHONPATH=src python scripts/bench_memory_graph.py make RAW.parquet DB COPIES
    PYTHONPATH=src python scripts/bench_memory_graph.py run DB
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _mark(name: str, t0: float) -> None:
    """Print RSS and peak RSS since the last mark, then reset the peak (Linux)."""
    mem = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                mem[key] = int(value.split()[0]) // 1024
    cpu = time.process_time()
    print(f"{time.time() - t0:7.1f}s cpu {cpu:6.1f}s {name:34s} rss {mem['VmRSS']:6d} "
          f"peak {mem['VmHWM']:6d} MiB", flush=True)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


class _Stop(Exception):
    pass


def dump(store: Path, out: Path) -> None:
    import importlib

    import pyarrow.parquet as pq

    from distillguard.coordination import graph
    from distillguard.ingest.store import Store, StoreEngine
    from distillguard.policy import default_policy

    analyze = importlib.import_module("distillguard.scoring.analyze")

    def fit(self, engine):  # the raw rows, then stop
        pq.write_table(engine.fetch_arrow(self.sql()), out)
        raise _Stop

    graph.EdgeBuilder.fit = fit
    tmp = Path(tempfile.mkdtemp(prefix="dg-graph-"))
    try:
        shutil.copytree(store, tmp / "s")
        st = Store(tmp / "s")
        try:
            analyze.analyze(StoreEngine(st.con.cursor()), default_policy())
        except _Stop:
            pass
        finally:
            st.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make(raw: Path, db: Path, copies: int) -> None:
    import duckdb

    con = duckdb.connect(str(db))
    con.execute(
        "CREATE OR REPLACE TABLE raw AS SELECT i || '#' || account_id AS account_id, key_kind, "
        "i || '#' || key AS key, n, n_requests, deg, i || '#' || owner AS owner "
        f"FROM read_parquet(?), range({int(copies)}) t(i) ORDER BY hash(account_id, key, i)",
        [str(raw)],
    )
    print(con.sql("SELECT count(*) FROM raw").fetchall()[0][0], "edges in", db)
    con.close()


def run(db: Path) -> None:
    import duckdb

    from distillguard.coordination.cluster import LeidenClusterer
    from distillguard.coordination.graph import EdgeBuilder
    from distillguard.engines.base import DuckDBEngine

    t0 = time.time()
    con = duckdb.connect(str(db))
    con.execute("SET memory_limit = '477MiB'")
    eb = EdgeBuilder()
    eb.sql = lambda: "SELECT * FROM raw"  # type: ignore[method-assign]
    _mark("start", t0)
    eb.fit(DuckDBEngine(con))
    _mark(f"EdgeBuilder.fit ({eb.edges_.num_rows} edges)", t0)
    cl = LeidenClusterer().fit(eb.edges_)
    _mark(f"LeidenClusterer.fit ({cl.n_clusters_} clusters)", t0)
    digest = hashlib.sha1()
    for table in (cl.members_, cl.cluster_keys_):
        for batch in table.to_batches():
            digest.update(str(batch.to_pydict()).encode())
    print("clusters and keys digest", digest.hexdigest()[:16], "quality", cl.quality_)
    _members_read(eb, cl, t0)
    con.execute("DROP TABLE IF EXISTS graph_edges")
    con.close()


def _members_read(eb, cl, t0: float) -> None:  # noqa: ANN001
    """The risk and evidence stages' readers of the members' edges: ``ClusterScorer.fit``
    (its synchrony) and ``_shared_key_of_members``, each step's peak RSS and a digest."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from distillguard.scoring.analyze import _shared_key_of_members
    from distillguard.scoring.scorer import ClusterScorer

    ids = pc.unique(eb.edges_.column("account_id"))
    zero = np.zeros(len(ids))
    names = ("harvest_content", "weak_verification", "new_account", "anonymised_ips",
             "payment_ring", "ip_rotation")
    pa.default_memory_pool().release_unused()
    _mark("accounts listed", t0)
    cs = ClusterScorer().fit(cl.members_, ids, dict.fromkeys(names, zero), eb.edges_)
    _mark(f"ClusterScorer.fit ({cs.clusters_.num_rows} clusters)", t0)
    share = _shared_key_of_members(eb, cl, ids)
    _mark(f"_shared_key_of_members ({len(share)} accounts)", t0)
    digest = hashlib.sha1(str(cs.clusters_.to_pydict()).encode())
    digest.update(str(sorted(share.items())).encode())
    print("cluster risk and shared keys digest", digest.hexdigest()[:16])


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "dump":
        dump(Path(args[0]), Path(args[1]))
    elif cmd == "make":
        make(Path(args[0]), Path(args[1]), int(args[2]))
    elif cmd == "run":
        run(Path(args[0]))
    else:
        sys.exit(f"unknown command {cmd!r}: dump, make or run")
