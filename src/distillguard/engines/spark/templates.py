"""Distributed template grouping: the embedded ``signals.TemplateIndex`` on Spark, by the same
definition.

Same tables, same ids (``docs/ARCHITECTURE.md``): ``templates(skeleton_hash, template_id)`` and
``template_bands(band_key, template_id, n_skeletons)``, carried forward between runs in the
store. The grouping rules are not restated here: the bucket sizes, the dominant-bucket stars
and each component's template id are the SQL of ``signals.templates`` (:func:`buckets_sql`,
:func:`star_edges_sql`, :func:`labelled_sql`), run by Spark SQL over temp views, and the
driver's connected components are the same :func:`star_components` the embedded index uses.

Hashes stay BIGINT here: the store holds a uint64 hash as DECIMAL(20,0) (how Arrow's uint64
reaches Spark, ``engine.to_spark_arrow``), and this module turns it into the node both engines
group on, ``hash - 2^63`` (``signals.templates.NODE_OFFSET``: the 64 bits with the sign bit
flipped), when it reads the store (:func:`as_long`), and back when it returns the new index
(:func:`from_long`). The map is one-to-one and keeps the hashes' unsigned order as the
BIGINT's signed order, so equal keys, components, hubs and "the smallest id" are exactly those
of the hashes, and the very nodes the embedded index uses.

Steps, for the skeletons of ``requests`` not yet in ``templates``:

1. each new skeleton is a node (its hash as a BIGINT node) with its LSH band keys;
2. the existing templates that own one of those band keys are nodes too (their id as a node; a
   template id is the hash of an indexed skeleton, so it never equals a new skeleton's), each
   weighing as many skeletons as it has with that key;
3. buckets and star edges (:func:`star_edges_sql`);
4. connected components of the star edges: on the driver (``scipy``) up to
   ``driver_max_edges``, else large-star / small-star on the executors (:mod:`.graph`), both
   labelled by the component's smallest node;
5. template ids (:func:`labelled_sql`); a skeleton in no star is its own template.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...signals.templates import (
    NODE_OFFSET,
    bucket_stats_sql,
    buckets_sql,
    labelled_sql,
    star_components,
    star_edges_sql,
)
from .graph import connected_components

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from .engine import SparkEngine

DRIVER_MAX_STAR_EDGES = 5_000_000
HASH_T = "decimal(20,0)"  # how the store holds a uint64 hash (see ``engine``)


def as_long(expr: str) -> str:
    """SQL for the node (BIGINT ``hash - 2^63``) of the stored uint64 hash ``expr``.

    Spark keeps DECIMAL(20,0) values as Java ``BigDecimal`` objects (precision > 18), which
    makes every shuffle, hash and comparison on them slow; the grouping works on these longs
    and maps back to the stored hashes only for its result."""
    return f"CAST({expr} - {NODE_OFFSET}BD AS BIGINT)"


def from_long(expr: str) -> str:
    """SQL for the stored hash (DECIMAL(20,0)) of the node ``expr`` made by :func:`as_long`."""
    return f"CAST(CAST({expr} AS {HASH_T}) + {NODE_OFFSET}BD AS {HASH_T})"


def _driver_components(spark: SparkSession, star: DataFrame) -> DataFrame:
    """``(node, component)`` for the star edges, on the driver (:func:`star_components`)."""
    edges = star.toArrow()
    table = star_components(edges.column("src").to_numpy(), edges.column("dst").to_numpy())
    if table.num_rows == 0:
        return spark.createDataFrame([], "node long, component long")
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
    return int(sec.min_bucket), mb


def _empty_index(spark: SparkSession, templates: DataFrame | None, bands: DataFrame | None
                 ) -> tuple[DataFrame, DataFrame]:
    """The previous index, or empty tables on a first run; ``n_skeletons`` 1 in an index
    written before the counts existed."""
    from pyspark.sql import functions as F

    if templates is None:
        templates = spark.createDataFrame([], f"skeleton_hash {HASH_T}, template_id {HASH_T}")
    if bands is None:
        bands = spark.createDataFrame(
            [], f"band_key {HASH_T}, template_id {HASH_T}, n_skeletons long"
        )
    if "n_skeletons" not in bands.columns:
        bands = bands.withColumn("n_skeletons", F.lit(1).cast("long"))
    return templates, bands


def _new_skeletons(engine: SparkEngine, templates: DataFrame) -> DataFrame:
    """``(node, bands)``: the distinct skeletons of ``requests`` not in ``templates``, as in
    ``TemplateIndex._collect_new``."""
    from pyspark.sql import functions as F

    req = engine.table("requests")
    return (
        req.where(
            F.col("skeleton_hash").isNotNull()
            & (F.col("skeleton_hash") != 0)
            & F.col("lsh_bands").isNotNull()
            & (F.size("lsh_bands") > 0)
        )
        .select(F.expr(as_long("skeleton_hash")).alias("node"), "lsh_bands")
        # A skeleton's band keys are a function of its tokens (``TemplateIndex._collect_new``),
        # so a hash aggregation on (node, bands) leaves one row per skeleton; ``first`` then
        # only resolves a store with mixed featurizer versions. ``first`` of an array cannot
        # use a hash aggregation: over every request it sorted them all (slice of `large`).
        .distinct()
        .groupBy("node")
        .agg(F.first("lsh_bands").alias("lsh_bands"))
        .select("node", F.expr(f"transform(lsh_bands, b -> {as_long('b')})").alias("bands"))
        .join(templates.select(F.expr(as_long("skeleton_hash")).alias("node")), "node",
              "left_anti")
        .localCheckpoint(eager=True)
    )


def _members(new: DataFrame, bands: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """``cb(node, band)`` of the new skeletons, ``ct(band, node, w)`` of the existing templates
    owning one of those keys, and ``members(node, band, w)``: both."""
    from pyspark.sql import functions as F

    cb = new.select("node", F.explode("bands").alias("band")).distinct().localCheckpoint(
        eager=True
    )
    ct = (
        bands.withColumn("band", F.expr(as_long("band_key")))
        .join(cb.select("band").distinct(), "band")
        .groupBy("band", F.expr(as_long("template_id")).alias("node"))
        .agg(F.sum(F.coalesce("n_skeletons", F.lit(1))).cast("long").alias("w"))
        .localCheckpoint(eager=True)
    )
    members = cb.withColumn("w", F.lit(1).cast("long")).unionByName(ct)
    return cb, ct, members


def _stars(spark: SparkSession, members: DataFrame, lo: int, mb: int,
           stats: dict[str, Any]) -> DataFrame:
    """``(src, dst)`` star edges by :func:`star_edges_sql`; bucket counts into ``stats``."""
    members.createOrReplaceTempView("_tpl_members")
    buckets = spark.sql(buckets_sql("_tpl_members")).localCheckpoint(eager=True)
    buckets.createOrReplaceTempView("_tpl_buckets")
    b = spark.sql(bucket_stats_sql("_tpl_buckets", lo, mb)).first()
    stats["buckets"] = int(b["buckets"] or 0)
    stats["buckets_ignored"] = int(b["ignored"] or 0)
    star = spark.sql(star_edges_sql("_tpl_members", "_tpl_buckets", lo, mb)).localCheckpoint(
        eager=True
    )
    stats["star_edges"] = int(star.count())
    return star


def _labelled(spark: SparkSession, comp: DataFrame, new: DataFrame, ct: DataFrame) -> DataFrame:
    """:func:`labelled_sql` over the components: ``(node, is_tpl, final, has_tpl,
    component)``, ``final`` the node whose id the component takes."""
    from pyspark.sql import functions as F

    nodes = new.select("node", F.lit(False).alias("is_tpl")).unionByName(
        ct.select("node", F.lit(True).alias("is_tpl")).distinct()
    )
    comp.createOrReplaceTempView("_tpl_comps")
    nodes.createOrReplaceTempView("_tpl_nodes")
    return spark.sql(labelled_sql("_tpl_comps", "_tpl_nodes")).localCheckpoint(eager=True)


def _count(labelled: DataFrame, n_new: int, stats: dict[str, Any]) -> None:
    from pyspark.sql import functions as F

    row = labelled.agg(
        F.sum(F.when(~F.col("is_tpl") & (F.col("has_tpl") == 1), 1).otherwise(0)).alias("j"),
        F.countDistinct(F.when(~F.col("is_tpl") & (F.col("has_tpl") == 0),
                               F.col("component"))).alias("c"),
        F.sum(F.when(~F.col("is_tpl"), 1).otherwise(0)).alias("n"),
        F.sum(F.when(F.col("is_tpl") & (F.col("node") != F.col("final")), 1)
              .otherwise(0)).alias("m"),
    ).first()
    stats["joined_existing"] = int(row["j"] or 0)
    stats["new_templates"] = int(row["c"] or 0) + n_new - int(row["n"] or 0)  # + singletons
    stats["merged_templates"] = int(row["m"] or 0)


def _next_index(templates: DataFrame, bands: DataFrame, new: DataFrame, cb: DataFrame,
                labelled: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The index after this run: merged templates renamed, the new skeletons added with their
    templates, one band row per (band, template) with the skeleton counts summed."""
    from pyspark.sql import functions as F

    assign = (
        new.select("node")
        .join(labelled.where(~F.col("is_tpl")).select("node", "final"), "node", "left")
        .select("node", F.coalesce("final", "node").alias("tid"))
        .localCheckpoint(eager=True)
    )
    remap = F.broadcast(
        labelled.where(F.col("is_tpl") & (F.col("node") != F.col("final")))
        .select(F.col("node").alias("old"), F.col("final").alias("new"))
    )

    def renamed(df: DataFrame) -> DataFrame:  # df has ``tid``
        return df.join(remap, df.tid == remap.old, "left").withColumn(
            "tid", F.coalesce("new", "tid")
        ).drop("old", "new")

    old_t = templates.select(F.expr(as_long("skeleton_hash")).alias("node"),
                             F.expr(as_long("template_id")).alias("tid"))
    out_t = renamed(old_t).unionByName(assign)
    old_b = bands.select(F.expr(as_long("band_key")).alias("band"),
                         F.expr(as_long("template_id")).alias("tid"), "n_skeletons")
    new_b = cb.join(assign, "node").groupBy("band", "tid").agg(
        F.count("*").cast("long").alias("n_skeletons")
    )
    out_b = (
        renamed(old_b).unionByName(new_b)
        .groupBy("band", "tid")
        .agg(F.sum("n_skeletons").cast("long").alias("n_skeletons"))
    )
    return (
        out_t.select(F.expr(from_long("node")).alias("skeleton_hash"),
                     F.expr(from_long("tid")).alias("template_id")),
        out_b.select(F.expr(from_long("band")).alias("band_key"),
                     F.expr(from_long("tid")).alias("template_id"), "n_skeletons"),
    )


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
    templates, bands = _empty_index(spark, templates, bands)
    new = _new_skeletons(engine, templates)
    n_new = int(new.count())
    stats: dict[str, Any] = {
        "new_skeletons": n_new,
        "chunks": 1 if n_new else 0,
        "buckets": 0,
        "buckets_ignored": 0,
        "star_edges": 0,
        "joined_existing": 0,
        "new_templates": 0,
        "merged_templates": 0,
    }
    if n_new:
        cb, ct, members = _members(new, bands)
        star = _stars(spark, members, lo, mb, stats)
        if stats["star_edges"] <= driver_max_edges:
            comp = _driver_components(spark, star)
        else:
            comp = connected_components(star)  # node, component
        labelled = _labelled(spark, comp, new, ct)
        _count(labelled, n_new, stats)
        templates, bands = _next_index(templates, bands, new, cb, labelled)
    stats["seconds"] = round(time.perf_counter() - t0, 3)
    return (
        templates.select("skeleton_hash", F.col("template_id").cast(HASH_T)),
        bands.select("band_key", F.col("template_id").cast(HASH_T), "n_skeletons"),
        stats,
    )


# The driver's DuckDB beside the local JVM (which holds its own 2 GiB heap): the embedded
# engine's default limit; beyond it DuckDB spills to the spool folder.
DRIVER_DUCKDB_MEMORY = "1GB"


def update_templates_on_driver(
    engine: SparkEngine,
    requests_folder: Path,
    spool: Path,
    templates_path: str | None,
    bands_path: str | None,
    policy: Any = None,
    threads: int = 2,
) -> tuple[DataFrame, DataFrame, dict[str, Any]]:
    """:func:`update_templates` run by the embedded ``TemplateIndex`` itself in a DuckDB on
    the driver, for local mode (the driver's cores are the executors' cores).

    DuckDB reads the stored requests' two hash columns and the previous index straight from
    their Parquet files, and writes the new index as Parquet that Spark reads: no table
    passes through the JVM heap or Python objects. The templates are the embedded engine's
    by construction (same code), and on a slice of `large` this took seconds where the
    distributed grouping's shuffles took minutes."""
    import shutil
    import uuid

    import duckdb

    from ...signals.templates import TemplateIndex

    work = spool / f"templates-{uuid.uuid4().hex[:12]}"
    work.mkdir(parents=True)
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{DRIVER_DUCKDB_MEMORY}'")
        con.execute(f"SET temp_directory = '{_quoted(work / 'tmp')}'")
        # One row per skeleton (any request's list: the same for all, see _new_skeletons),
        # so the DECIMAL → UBIGINT casts of the band lists run once per skeleton, not once
        # per request; TemplateIndex then reads a table as it does in the embedded store.
        con.execute(
            "CREATE TABLE requests AS SELECT CAST(skeleton_hash AS UBIGINT) AS skeleton_hash, "
            "CAST(any_value(lsh_bands) AS UBIGINT[]) AS lsh_bands FROM read_parquet("
            f"'{_quoted(requests_folder)}/**/*.parquet', union_by_name = true, "
            "hive_partitioning = false) GROUP BY skeleton_hash"
        )
        _load_index(con, templates_path, bands_path)
        stats = TemplateIndex(con, policy=policy).update()
        out = {}
        for name, cols in (("templates", "skeleton_hash, template_id"),
                           ("template_bands", "band_key, template_id, n_skeletons")):
            path = work / name
            path.mkdir()
            casts = ", ".join(
                c if c == "n_skeletons" else f"CAST({c} AS DECIMAL(20,0)) AS {c}"
                for c in cols.split(", ")
            )
            con.execute(f"COPY (SELECT {casts} FROM {name}) TO '{_quoted(path)}/part-0.parquet' "
                        "(FORMAT parquet)")
            out[name] = str(path)
    finally:
        con.close()
    from pyspark.sql import functions as F

    # Checkpointed, so the files can go: the caller writes the index into the warehouse.
    spark = engine.spark
    tpl = spark.read.parquet(out["templates"]).localCheckpoint(eager=True)
    bands = spark.read.parquet(out["template_bands"]).localCheckpoint(eager=True)
    shutil.rmtree(work, ignore_errors=True)
    return (
        tpl.select(F.col("skeleton_hash").cast(HASH_T), F.col("template_id").cast(HASH_T)),
        bands.select(F.col("band_key").cast(HASH_T), F.col("template_id").cast(HASH_T),
                     F.col("n_skeletons").cast("long")),
        stats,
    )


def _quoted(path: Path | str) -> str:
    """A path inside a DuckDB string literal."""
    return str(path).replace("'", "''")


def _load_index(con: Any, templates_path: str | None, bands_path: str | None) -> None:
    """The previous index (the warehouse's Parquet, hashes DECIMAL(20,0)) as the DuckDB
    tables ``TemplateIndex`` updates in place; none on a first run."""
    from .engine import local_folder

    for name, path, cols in (
        ("templates", templates_path, ("skeleton_hash", "template_id")),
        ("template_bands", bands_path, ("band_key", "template_id")),
    ):
        folder = local_folder(path)
        if folder is None:
            continue
        casts = ", ".join(f"CAST({c} AS UBIGINT) AS {c}" for c in cols)
        con.execute(f"CREATE TABLE {name} AS SELECT * REPLACE ({casts}) "
                    f"FROM read_parquet('{_quoted(folder)}/*.parquet')")
