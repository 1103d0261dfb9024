"""Large-star / small-star connected components on Spark agree with igraph."""

from __future__ import annotations

import random

import pytest

from distillguard.engines.spark.session import missing_requirements

_MISSING = missing_requirements()
pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(_MISSING is not None, reason=f"Spark tests skipped: {_MISSING}"),
]


@pytest.fixture(scope="module")
def spark():
    from distillguard.engines.spark.session import spark_session

    # Reuses the process's active session, so the whole test run starts one JVM.
    return spark_session("local[2]", shuffle_partitions=4)


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
    n = 600
    # Sparse random graph (many components of varied size) plus one long path, the worst case
    # for label propagation and a good test of the log(n) rounds.
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(380)]
    edges += [(i, i + 1) for i in range(400, 470)]
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
