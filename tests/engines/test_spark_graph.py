"""Large-star / small-star connected components on Spark agree with igraph."""

from __future__ import annotations

import random

import pytest

pytestmark = [pytest.mark.spark]


def _igraph_partition(n: int, edges: list[tuple[int, int]]) -> dict[int, int]:
    import igraph as ig

    g = ig.Graph(n=n, edges=edges)
    membership = g.connected_components().membership
    # Label each component by its smallest vertex, as the Spark algorithm does.
    smallest: dict[int, int] = {}
    for v, c in enumerate(membership):
        smallest.setdefault(c, v)
    return {v: smallest[c] for v, c in enumerate(membership)}


def test_matches_igraph_on_random_graph(spark):
    from distillguard.engines.spark.graph import connected_components

    rng = random.Random(3)
    n = 300
    # Sparse random graph (many components of varied size) plus one long path, the worst case
    # for label propagation and a good test of the log(n) rounds.
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(190)]
    edges += [(i, i + 1) for i in range(200, 240)]
    edges += [(5, 5)]  # a self-loop must not break anything
    df = spark.createDataFrame(edges, "src long, dst long")
    got = {r["node"]: r["component"] for r in connected_components(df).collect()}
    want = _igraph_partition(n, edges)
    touched = {v for e in edges for v in e}
    assert set(got) == touched
    assert {v: want[v] for v in touched} == got


def test_string_ids_and_labels_are_component_minimum(spark):
    from distillguard.engines.spark.graph import connected_components

    df = spark.createDataFrame(
        [("d", "c"), ("c", "b"), ("x", "y"), ("b", "a")], "src string, dst string"
    )
    got = {r["node"]: r["component"] for r in connected_components(df).collect()}
    assert got == {"a": "a", "b": "a", "c": "a", "d": "a", "x": "x", "y": "x"}


def _templated_requests():
    """Featurized requests: 6 templates × slot fills, plus unique one-off prompts."""
    import pyarrow as pa

    from distillguard import contract
    from distillguard.signals import featurize

    rng = random.Random(11)
    wrappers = [
        "You are an expert tutor. Solve the following problem and explain every step in detail "
        "so a student can follow along: {x}. Finish with the final answer on its own line.",
        "Rate the response below on a scale from 1 to 10 for helpfulness, honesty and harmlessness"
        ". Give a one-paragraph justification. Response: {x}",
        "Generate twenty diverse training examples in JSON Lines format about {x}, each with an "
        "instruction field and an output field, no commentary before or after.",
        "Translate the following customer support message into formal German and keep all "
        "product names unchanged: {x}",
        "Write a Python function with type hints and docstrings that implements {x}; include "
        "unit tests using pytest and explain the complexity.",
        "Summarise this news article in exactly three bullet points for a busy executive who "
        "has no time to read it: {x}",
    ]
    fills = ["the area of a circle of radius {n}", "quicksort on {n} integers",
             "the history of the {n}th century", "a refund for order {n}",
             "binary search over {n} items", "prime factors of {n}"]
    texts = []
    for w in wrappers:
        for _ in range(12):
            texts.append(w.format(x=rng.choice(fills).format(n=rng.randint(2, 999))))
    texts += [f"random question number {i} about topic {rng.randint(0, 10**6)}" for i in range(20)]
    n = len(texts)
    cols = {f.name: pa.nulls(n, f.type) for f in contract.NORMALIZED_REQUEST_SCHEMA}
    cols["request_id"] = pa.array([f"r{i}" for i in range(n)])
    cols["account_id"] = pa.array([f"a{i % 9}" for i in range(n)])
    cols["ts_ms"] = pa.array([1_767_225_600_000 + i for i in range(n)], pa.int64())
    cols["prompt_text"] = pa.array(texts)
    table = pa.table(cols, schema=contract.NORMALIZED_REQUEST_SCHEMA)
    return featurize(table).select(contract.STORED_REQUEST_SCHEMA.names).cast(
        contract.STORED_REQUEST_SCHEMA
    )


def test_distributed_templates_equal_embedded_index(spark):
    """The executors' path (large/small-star) gives exactly the embedded TemplateIndex,
    including a second, incremental update (the driver path is checked by the equivalence
    test)."""
    import duckdb

    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.engines.spark.templates import update_templates
    from distillguard.signals.templates import TemplateIndex

    table = _templated_requests()
    first, second = table.slice(0, 60), table
    con = duckdb.connect()
    eng = SparkEngine(spark)
    got: dict[str, dict[int, int]] = {}
    for path, limit in (("executors", 0),):
        old_t = old_b = None
        for part in (first, second):
            eng.register_arrow("requests", part)
            t, b, stats = update_templates(eng, old_t, old_b, driver_max_edges=limit)
            old_t = eng.register_df(f"tpl_{path}", t)
            old_b = eng.register_df(f"bands_{path}", b)
        got[path] = {int(r[0]): int(r[1]) for r in old_t.collect()}
    for part in (first, second):
        con.register("requests_arrow", part)
        con.execute("CREATE OR REPLACE TABLE requests AS SELECT * FROM requests_arrow")
        TemplateIndex(con).update()
    want = dict(con.execute("SELECT skeleton_hash, template_id FROM templates").fetchall())
    assert len(set(want.values())) < len(want)  # near-duplicates were grouped
    assert got["executors"] == {int(k): int(v) for k, v in want.items()}
    assert stats["new_skeletons"] == len(want) - len({int(x) for x in first.column("skeleton_hash").to_pylist()})


def test_crossover_clusterer_uses_components_above_the_limit(spark):
    """Above ``max_driver_edges`` the clusters are components of the thresholded graph."""
    import pyarrow as pa

    from distillguard.coordination.cluster import LeidenClusterer
    from distillguard.engines.spark.cluster import CrossoverClusterer
    from distillguard.engines.spark.engine import SparkEngine

    rows = []
    for g, key in (("x", "tpl-x"), ("y", "tpl-y")):
        for i in range(5):
            rows.append((f"{g}{i}", "template", key, 0.9))
            rows.append((f"{g}{i}", "payment", f"pay-{g}", 0.8))
    for i in range(6):  # benign accounts touching one popular, light key
        rows.append((f"b{i}", "asn_ua", "big-isp|chrome", 0.01))
        rows.append((f"b{i}", "ip", f"ip{i}", 0.5))
    edges = pa.table(dict(zip(("account_id", "key_kind", "key", "weight"),
                              map(list, zip(*rows, strict=True)), strict=True)))
    eng = SparkEngine(spark)
    big = CrossoverClusterer(LeidenClusterer(min_cluster_size=3), eng, max_driver_edges=0)
    big.fit(edges)
    small = CrossoverClusterer(LeidenClusterer(min_cluster_size=3), eng).fit(edges)
    assert (big.method_, small.method_) == ("components", "leiden")
    groups = {}
    for a, c in zip(big.labels().column("account_id").to_pylist(),
                    big.labels().column("cluster_id").to_pylist(), strict=True):
        groups.setdefault(c, set()).add(a)
    assert sorted(map(sorted, groups.values())) == [[f"x{i}" for i in range(5)],
                                                    [f"y{i}" for i in range(5)]]
    assert big.n_clusters_ == 2 and "max_driver_edges" in big.get_params()
    assert big.cluster_keys_.num_rows >= 4
