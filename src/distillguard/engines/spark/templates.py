"""Distributed template grouping: the embedded ``signals.TemplateIndex`` rules on Spark.

Same tables, same ids (``docs/ARCHITECTURE.md``): ``templates(skeleton_hash, template_id)`` and
``template_bands(band_key, template_id)``, carried forward between runs in the store.

For the skeletons of ``requests`` not yet in ``templates``:

1. explode each new skeleton's LSH band keys: ``(band_key, node)``;
2. add the existing templates that own one of those band keys (``template_bands``), as nodes
   with negative ids so they never collide with a skeleton hash;
3. every band key is a bucket whose size counts skeletons (an existing template weighs as many
   as it has with that key, ``template_bands.n_skeletons``); a node links only through its
   usable buckets (``min_bucket``..``max_bucket`` skeletons, ≥ 2 nodes) that are at least
   ``DOMINANCE`` × its biggest one, and each such bucket becomes a **star** (each member
   linked to the bucket's smallest member): n - 1 edges, never n(n-1)/2;
4. connected components of the star edges (large-star / small-star, :mod:`.graph`);
5. a component that holds existing templates keeps the smallest of their ids (the others are
   merged into it); a new component takes its smallest skeleton hash; a skeleton in no star
   is its own template.

This is exactly ``TemplateIndex.update``: both engines group all new skeletons in one global
pass (the embedded index used hash-modulo chunks of 250,000 skeletons until issue 15, which
kept near-duplicate groups apart on ``large`` that this computation joins).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .graph import connected_components

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from .engine import SparkEngine

DRIVER_MAX_STAR_EDGES = 5_000_000
HASH_T = "decimal(20,0)"  # how the store holds a uint64 hash (see ``engine``)


def as_long(expr: str) -> str:
    """SQL for the int64 with the same 64 bits as the uint64 hash ``expr``.

    Spark keeps DECIMAL(20,0) values as Java ``BigDecimal`` objects (precision > 18), which
    makes every shuffle, hash and comparison on them slow; the grouping works on these longs
    and maps back to the stored hashes only for its result. The map is one-to-one, so equal
    keys and components are exactly those of the hashes."""
    return (
        f"CAST(CASE WHEN {expr} >= 9223372036854775808BD "
        f"THEN {expr} - 18446744073709551616BD ELSE {expr} END AS BIGINT)"
    )


def from_long(expr: str) -> str:
    """SQL for the stored hash (DECIMAL(20,0)) of the int64 ``expr`` made by :func:`as_long`."""
    return (
        f"CAST(CASE WHEN {expr} < 0 THEN CAST({expr} AS {HASH_T}) + 18446744073709551616BD "
        f"ELSE CAST({expr} AS {HASH_T}) END AS {HASH_T})"
    )


def _driver_components(spark: Any, star: DataFrame) -> DataFrame:
    """``(node, component)`` for the star edges (int64 nodes), computed on the driver with
    ``scipy.sparse.csgraph``; component = the smallest node, as
    :func:`.graph.connected_components` labels it."""
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    edges = star.toArrow()
    src = edges.column("src").to_numpy()
    dst = edges.column("dst").to_numpy()
    nodes, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    n = len(nodes)
    m = len(src)
    graph = coo_matrix((np.ones(m, dtype=np.int8), (inv[:m], inv[m:])), shape=(n, n))
    _, lab = cc(graph, directed=False)
    # nodes are sorted, so the first node seen per label is the component's minimum
    first = np.full(lab.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, lab, np.arange(n))
    table = pa.table({"node": pa.array(nodes, pa.int64()),
                      "component": pa.array(nodes[first[lab]], pa.int64())})
    return spark.createDataFrame(table) if n else spark.createDataFrame(
        [], "node long, component long")


def _bucket_bounds(policy: Any, max_bucket: int | None) -> tuple[int, int]:
    """``(min_bucket, max_bucket)`` from the policy's signals section, as TemplateIndex."""
    from ...errors import InvalidParameterError
    from ...signals.base import _signals_section

    sec = _signals_section(policy)
    mb = max_bucket if max_bucket is not None else sec.max_bucket
    if isinstance(mb, bool) or not isinstance(mb, int) or mb < 2:
        raise InvalidParameterError(
            f"template max_bucket must be an integer in [2, inf]; got {mb!r}"
        )
    return int(getattr(sec, "min_bucket", 2)), mb


def update_templates(
    engine: SparkEngine,
    templates: DataFrame | None,
    bands: DataFrame | None,
    policy: Any = None,
    max_bucket: int | None = None,
    driver_max_edges: int = DRIVER_MAX_STAR_EDGES,
) -> tuple[DataFrame, DataFrame, dict[str, Any]]:
    """New ``(templates, template_bands)`` DataFrames from the ``requests`` view and the
    previous index (None on a first run); nothing is written. Returns statistics with the keys
    of ``TemplateIndex.update``.

    Up to ``driver_max_edges`` star edges, their components are found on the driver
    (``scipy.sparse.csgraph``, 16 bytes per edge: 5M edges is 80 MB); above, by large-star /
    small-star on the executors. Both give the same labels (the component's minimum node).
    """
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    spark = engine.spark
    lo, mb = _bucket_bounds(policy, max_bucket)
    try:
        from ...signals.templates import DOMINANCE as dominance
    except ImportError:  # an index without the dominance rule
        dominance = 0.0
    hash_t = HASH_T
    if templates is None:
        templates = spark.createDataFrame([], f"skeleton_hash {hash_t}, template_id {hash_t}")
    if bands is None:
        bands = spark.createDataFrame(
            [], f"band_key {hash_t}, template_id {hash_t}, n_skeletons long"
        )
    if "n_skeletons" not in bands.columns:  # an index written before the counts existed
        bands = bands.withColumn("n_skeletons", F.lit(1).cast("long"))

    req = engine.table("requests")
    new = (
        req.where(
            F.col("skeleton_hash").isNotNull()
            & (F.col("skeleton_hash") != 0)
            & F.col("lsh_bands").isNotNull()
            & (F.size("lsh_bands") > 0)
        )
        .select(
            F.expr(as_long("skeleton_hash")).alias("node"),
            "skeleton_hash",
            F.expr(f"transform(lsh_bands, b -> {as_long('b')})").alias("bands"),
        )
        .groupBy("node")
        .agg(F.first("skeleton_hash").alias("skeleton_hash"), F.first("bands").alias("bands"))
        .join(templates.select(F.expr(as_long("skeleton_hash")).alias("node")), "node",
              "left_anti")
        .localCheckpoint(eager=True)
    )
    n_new = new.count()
    stats: dict[str, Any] = {
        "new_skeletons": int(n_new),
        "chunks": 1 if n_new else 0,
        "buckets": 0,
        "buckets_ignored": 0,
        "star_edges": 0,
        "joined_existing": 0,
        "new_templates": 0,
        "merged_templates": 0,
    }
    if n_new:
        cb = new.select("node", F.explode("bands").alias("band")).distinct().localCheckpoint(
            eager=True
        )
        keys = cb.select("band").distinct()
        # Existing templates owning one of the new band keys, as nodes of their own (a
        # template id is the hash of a skeleton already indexed, so it never equals a new
        # skeleton's); each weighs as many skeletons as it has with that key, so a bucket's
        # size is the same whether the data arrives in one run or day by day.
        ct = (
            bands.withColumn("band", F.expr(as_long("band_key")))
            .join(keys, "band")
            .groupBy("band", "template_id")
            .agg(F.sum(F.coalesce("n_skeletons", F.lit(1))).cast("long").alias("w"))
            .withColumn("node", F.expr(as_long("template_id")))
            .localCheckpoint(eager=True)
        )
        cm = cb.withColumn("w", F.lit(1).cast("long")).unionByName(ct.select("band", "node", "w"))
        buckets = cm.groupBy("band").agg(
            F.sum("w").alias("n"), F.count("*").alias("nodes")
        ).localCheckpoint(eager=True)
        b = buckets.agg(
            F.sum(F.when(F.col("n") >= lo, 1).otherwise(0)).alias("b"),
            F.sum(F.when(F.col("n") > mb, 1).otherwise(0)).alias("ignored"),
        ).first()
        stats["buckets"] = int(b["b"] or 0)
        stats["buckets_ignored"] = int(b["ignored"] or 0)
        # A node links only through its dominant buckets (≥ DOMINANCE × its biggest usable
        # one): following small payload buckets would merge every wrapper that carried a task.
        from pyspark.sql import Window

        usable = cm.join(
            buckets.where((F.col("n") >= lo) & (F.col("n") <= mb) & (F.col("nodes") >= 2)),
            "band",
        ).withColumn("top", F.max("n").over(Window.partitionBy("node")))
        kept = usable.where(F.col("n") >= F.lit(dominance) * F.col("top")).select("node", "band")
        hubs = kept.groupBy("band").agg(F.min("node").alias("hub"), F.count("*").alias("c"))
        star = (
            kept.join(hubs.where(F.col("c") >= 2), "band")
            .where(F.col("node") != F.col("hub"))
            .select(F.col("node").alias("src"), F.col("hub").alias("dst"))
            .distinct()
            .localCheckpoint(eager=True)
        )
        n_star = int(star.count())
        stats["star_edges"] = n_star
        if n_star <= driver_max_edges:
            comp = _driver_components(spark, star)
        else:
            comp = connected_components(star)  # node, component
        # Back to hashes: which star nodes are templates, and their stored ids.
        node_info = new.select(
            "node", F.col("skeleton_hash").alias("hash"), F.lit(False).alias("is_tpl")
        ).unionByName(
            ct.select("node", F.col("template_id").cast(hash_t).alias("hash"),
                      F.lit(True).alias("is_tpl")).distinct()
        )
        labelled = comp.join(node_info, "node")
        # Component id: smallest existing template id, else smallest new skeleton hash.
        per_comp = labelled.groupBy("component").agg(
            F.min(F.when(F.col("is_tpl"), F.col("hash"))).alias("best_tpl"),
            F.min(F.when(~F.col("is_tpl"), F.col("hash"))).alias("best_new"),
        )
        per_comp = per_comp.select(
            "component",
            F.coalesce("best_tpl", "best_new").alias("final"),
            F.col("best_tpl").isNotNull().alias("has_tpl"),
        )
        labelled = labelled.join(per_comp, "component").localCheckpoint(eager=True)
        new_nodes = labelled.where(~F.col("is_tpl"))
        stats["joined_existing"] = int(new_nodes.where("has_tpl").count())
        stats["new_templates"] = int(
            new_nodes.where(~F.col("has_tpl")).select("component").distinct().count()
        ) + int(n_new - new_nodes.count())  # + singletons (in no star)
        assign = new.select("skeleton_hash", "node").join(
            new_nodes.select("node", "final"), "node", "left"
        )
        assign = assign.select(
            "skeleton_hash",
            "node",
            F.coalesce("final", F.col("skeleton_hash")).cast(hash_t).alias("template_id"),
        ).localCheckpoint(eager=True)
        remap = (
            labelled.where(F.col("is_tpl"))
            .select(F.col("hash").alias("old_id"), F.col("final").alias("new_id"))
            .where(F.col("old_id") != F.col("new_id"))
            .distinct()
            .localCheckpoint(eager=True)
        )
        stats["merged_templates"] = int(remap.count())

        def apply(df: DataFrame) -> DataFrame:
            joined = df.join(F.broadcast(remap), df.template_id == remap.old_id, "left")
            return joined.select(
                *[c for c in df.columns if c != "template_id"],
                F.coalesce("new_id", "template_id").cast(hash_t).alias("template_id"),
            )

        templates = apply(templates).unionByName(assign.select("skeleton_hash", "template_id"))
        new_bands = (
            cb.join(assign.select("node", F.expr(as_long("template_id")).alias("tid")), "node")
            .groupBy("band", "tid")
            .agg(F.count("*").cast("long").alias("n_skeletons"))
            .select(
                F.expr(from_long("band")).alias("band_key"),
                F.expr(from_long("tid")).alias("template_id"),
                "n_skeletons",
            )
        )
        # One row per (band, template), skeleton counts summed over merges and new skeletons.
        bands = (
            apply(bands).select("band_key", "template_id", "n_skeletons")
            .unionByName(new_bands)
            .groupBy("band_key", "template_id")
            .agg(F.sum("n_skeletons").cast("long").alias("n_skeletons"))
        )
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return (
        templates.select("skeleton_hash", F.col("template_id").cast(hash_t)),
        bands.select("band_key", "template_id"),
        stats,
    )
