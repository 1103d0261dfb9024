"""Clustering the account graph on Spark: Leiden on the driver when it fits, distributed
connected components over the thresholded graph when it does not.

The crossover (``max_driver_edges``, default 50M account–key edges): igraph's
``community_leiden`` ran 1M nodes / 4M edges in about 22 s here; it is single-threaded and
holds the graph in driver memory (roughly 100 bytes per edge with weights, ~5 GB at 50M), so
beyond about 50M edges one Leiden pass takes many minutes and the driver needs a very large
heap. Above the crossover the clusters are the connected components of the graph restricted to
edges of weight ≥ ``min_edge_weight`` (FRAUDAR weights already make popular keys light, so the
threshold cuts the benign hubs that would otherwise chain everything together), computed with
large-star / small-star on the executors. Leiden's first membership pass (attachment and
strength inside the community, minimum size) then decides who is a member, and ids follow the
same ordering; Leiden's second pass (core keys) needs communities finer than components and is
not applied.

``use_crossover_clusterer`` puts :class:`CrossoverClusterer` in place of ``LeidenClusterer``
inside ``scoring.analyze`` for one run, so the scoring code stays shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...coordination.cluster import LeidenClusterer, key_index, label_clusters, owner_of
from .graph import connected_components

if TYPE_CHECKING:  # pragma: no cover
    from .engine import SparkEngine

DEFAULT_MAX_DRIVER_EDGES = 50_000_000


class CrossoverClusterer:
    """A ``LeidenClusterer`` up to ``max_driver_edges`` edges; distributed components above.

    Wraps the ``LeidenClusterer`` that ``scoring.analyze`` configured (whatever its parameters),
    so the driver path is exactly the embedded one. Everything it learns (``members_``,
    ``cluster_keys_``, ``n_clusters_``, ``labels()``, ``get_params()``) reads through to it.

    Attributes (besides Leiden's): ``method_`` is ``"leiden"`` or ``"components"``.
    """

    def __init__(
        self,
        leiden: LeidenClusterer,
        engine: SparkEngine | None = None,
        max_driver_edges: int = DEFAULT_MAX_DRIVER_EDGES,
        min_edge_weight: float = 0.05,
    ) -> None:
        self.leiden = leiden
        self.engine = engine
        self.max_driver_edges = max_driver_edges
        self.min_edge_weight = min_edge_weight

    def __getattr__(self, name: str):  # only called for attributes not set on the wrapper
        if name == "leiden":
            raise AttributeError(name)
        return getattr(self.leiden, name)

    def get_params(self) -> dict:
        """Leiden's parameters plus the crossover's (for ``summary.json``)."""
        params = dict(self.leiden.get_params())
        params.update(max_driver_edges=self.max_driver_edges, min_edge_weight=self.min_edge_weight)
        return params

    def fit(self, edges: pa.Table) -> CrossoverClusterer:
        """Cluster on the driver or on the executors, depending on the graph's size."""
        if self.engine is None or edges.num_rows <= self.max_driver_edges:
            self.method_ = "leiden"
            self.leiden.fit(edges)
            return self
        self.method_ = "components"
        return self.fit_components(edges)

    def fit_components(self, edges: pa.Table) -> CrossoverClusterer:
        """Distributed path: components of the thresholded account–key graph."""
        from pyspark.sql import functions as F

        if self.engine is None:
            raise ValueError("the distributed path needs a SparkEngine")
        lc = self.leiden
        lc._validate()
        spark = self.engine.spark
        acc = pc.dictionary_encode(edges.column("account_id")).combine_chunks()
        a_idx = acc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        k_idx, n_key = key_index(edges)  # the driver's key numbering, one place
        weight = np.asarray(edges.column("weight").to_numpy(zero_copy_only=False), float)
        n_acc = len(acc.dictionary)
        lc.n_edges_ = int(len(weight))
        strong = weight >= self.min_edge_weight
        # Node ids: accounts 0..n_acc-1, keys n_acc.. (int64 is the fastest id type for CC).
        pairs = pa.table({"src": pa.array(a_idx[strong]), "dst": pa.array(n_acc + k_idx[strong])})
        labels = connected_components(spark.createDataFrame(pairs)).localCheckpoint(eager=True)
        lab = labels.where(F.col("node") < n_acc).toArrow()
        # Accounts without a strong edge are their own singleton (ids that no node can have).
        comm = np.arange(n_acc, dtype=np.int64) + n_acc + n_key
        comm[lab.column("node").to_numpy()] = lab.column("component").to_numpy()
        key_comm = np.full(n_key, -1, dtype=np.int64)
        klab = labels.where(F.col("node") >= n_acc).toArrow()
        key_comm[klab.column("node").to_numpy() - n_acc] = klab.column("component").to_numpy()
        lc.quality_ = 0.0
        same = (comm[a_idx] == key_comm[k_idx]) & strong
        self._members_from(acc, comm, a_idx, weight, same, owner_of(edges, a_idx, n_acc))
        lc.cluster_keys_ = lc._cluster_keys(edges, lc.members_)
        return self

    def _members_from(self, acc: pa.DictionaryArray, comm: np.ndarray, a_idx: np.ndarray,
                      weight: np.ndarray, same: np.ndarray,
                      owners: np.ndarray | None = None) -> None:
        """Leiden's membership rule and id order, on any community assignment."""
        n_acc = len(acc.dictionary)
        total = np.bincount(a_idx, weights=weight, minlength=n_acc)
        inside = np.bincount(a_idx, weights=weight * same, minlength=n_acc)
        attach = np.divide(inside, total, out=np.zeros(n_acc), where=total > 0)
        lc = self.leiden
        ok = (attach >= lc.min_attachment) & (inside >= lc.min_strength)
        names = np.asarray(acc.dictionary.to_pylist(), dtype=object)
        lc.members_, lc.n_clusters_ = label_clusters(
            names, comm, ok, attach, inside, lc.min_cluster_size, owners
        )

@contextmanager
def use_crossover_clusterer(
    engine: SparkEngine, max_driver_edges: int = DEFAULT_MAX_DRIVER_EDGES
) -> Iterator[None]:
    """Within the block, ``scoring.analyze`` clusters with :class:`CrossoverClusterer`."""
    import importlib

    # The module, not the function of the same name that ``scoring`` re-exports.
    mod = importlib.import_module("distillguard.scoring.analyze")
    original = mod.LeidenClusterer

    def factory(*args: object, **params: object) -> CrossoverClusterer:
        return CrossoverClusterer(original(*args, **params), engine=engine,
                                  max_driver_edges=max_driver_edges)

    mod.LeidenClusterer = factory  # type: ignore[assignment]
    try:
        yield
    finally:
        mod.LeidenClusterer = original
