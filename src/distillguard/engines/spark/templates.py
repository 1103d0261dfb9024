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

This is exactly ``TemplateIndex.update`` when the new skeletons fit in one of its chunks
(250,000 distinct skeletons per run); beyond that the embedded index processes hash-modulo
chunks one after another and can, rarely, keep two near-duplicate groups apart that this
global computation joins.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .graph import connected_components

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

    from .engine import SparkEngine

NODE_TYPE = "decimal(21,0)"  # skeleton hashes (uint64) and negated template ids
DRIVER_MAX_STAR_EDGES = 5_000_000


def _driver_components(spark: Any, star: DataFrame) -> DataFrame:
    """``(node, component)`` for the star edges, computed on the driver; component = the
    smallest node, as :func:`.graph.connected_components` labels it."""
    from decimal import Decimal

    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as cc

    edges = star.toArrow()
    src = np.array([int(x) for x in edges.column("src").to_pylist()], dtype=object)
    dst = np.array([int(x) for x in edges.column("dst").to_pylist()], dtype=object)
    nodes, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
    n = len(nodes)
    m = len(src)
    graph = coo_matrix((np.ones(m, dtype=np.int8), (inv[:m], inv[m:])), shape=(n, n))
    _, lab = cc(graph, directed=False)
    # nodes are sorted, so the first node seen per label is the component's minimum
    first = np.full(lab.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, lab, np.arange(n))
    comp = nodes[first[lab]]
    table = pa.table(
        {
            "node": pa.array([Decimal(int(x)) for x in nodes], pa.decimal128(21, 0)),
            "component": pa.array([Decimal(int(x)) for x in comp], pa.decimal128(21, 0)),
        }
    )
    return spark.createDataFrame(table)


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
    hash_t = "decimal(20,0)"
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
        .groupBy("skeleton_hash")
        .agg(F.first("lsh_bands").alias("lsh_bands"))
        .join(templates.select("skeleton_hash"), "skeleton_hash", "left_anti")
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
        node = F.col("skeleton_hash").cast(NODE_TYPE)
        cb = new.select(node.alias("node"), F.explode("lsh_bands").alias("band_key")).distinct()
        keys = cb.select("band_key").distinct()
        # Existing templates owning one of the new band keys: node = -(template_id + 1), and
        # each weighs as many skeletons as it has with that key, so a bucket's size is the
        # same whether the data arrives in one run or day by day.
        ct = (
            bands.join(keys, "band_key")
            .groupBy("band_key", "template_id")
            .agg(F.sum(F.coalesce("n_skeletons", F.lit(1))).alias("w"))
            .select("band_key", (-(F.col("template_id").cast(NODE_TYPE)) - 1).alias("node"),
                    F.col("w").cast("long").alias("w"))
        )
        cm = cb.withColumn("w", F.lit(1).cast("long")).unionByName(ct)
        buckets = cm.groupBy("band_key").agg(
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
            "band_key",
        ).withColumn("top", F.max("n").over(Window.partitionBy("node")))
        kept = usable.where(F.col("n") >= F.lit(dominance) * F.col("top")).select(
            "node", "band_key"
        )
        hubs = kept.groupBy("band_key").agg(F.min("node").alias("hub"), F.count("*").alias("c"))
        star = (
            kept.join(hubs.where(F.col("c") >= 2), "band_key")
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
        # Component id: smallest existing template id, else smallest new skeleton hash.
        is_tpl = F.col("node") < 0
        tpl_id = (-F.col("node") - 1).cast(hash_t)
        per_comp = comp.groupBy("component").agg(
            F.min(F.when(is_tpl, tpl_id)).alias("best_tpl"),
            F.min(F.when(~is_tpl, F.col("node").cast(hash_t))).alias("best_new"),
        )
        per_comp = per_comp.select(
            "component",
            F.coalesce("best_tpl", "best_new").alias("final"),
            F.col("best_tpl").isNotNull().alias("has_tpl"),
        )
        labelled = comp.join(per_comp, "component").localCheckpoint(eager=True)
        new_nodes = labelled.where(F.col("node") >= 0)
        stats["joined_existing"] = int(new_nodes.where("has_tpl").count())
        stats["new_templates"] = int(
            new_nodes.where(~F.col("has_tpl")).select("component").distinct().count()
        ) + int(n_new - new_nodes.count())  # + singletons (in no star)
        assign = new.select(
            F.col("skeleton_hash"), F.col("skeleton_hash").cast(NODE_TYPE).alias("node")
        ).join(new_nodes.select("node", "final"), "node", "left")
        assign = assign.select(
            "skeleton_hash",
            F.coalesce("final", F.col("skeleton_hash")).cast(hash_t).alias("template_id"),
        )
        remap = (
            labelled.where(is_tpl)
            .select(tpl_id.alias("old_id"), F.col("final").alias("new_id"))
            .where(F.col("old_id") != F.col("new_id"))
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
            new.select(F.col("skeleton_hash"), F.explode("lsh_bands").alias("band_key"))
            .distinct()
            .join(assign, "skeleton_hash")
            .groupBy(F.col("band_key").cast(hash_t).alias("band_key"), "template_id")
            .agg(F.count("*").cast("long").alias("n_skeletons"))
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
        templates.select("skeleton_hash", "template_id"),
        bands.select("band_key", "template_id"),
        stats,
    )
