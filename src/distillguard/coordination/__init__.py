"""Coordination: the account–key star graph (:class:`EdgeBuilder`) and its Leiden clusters
(:class:`LeidenClusterer`); ``build_edges`` and ``find_clusters`` are thin wrappers."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..engines.base import Engine
from .cluster import LeidenClusterer
from .graph import EDGE_KINDS, EdgeBuilder


def build_edges(engine: Engine, **params: Any) -> pa.Table:
    """``EdgeBuilder(**params).fit(engine).edges_`` (also writes ``graph_edges``)."""
    return EdgeBuilder(**params).fit(engine).edges_


def find_clusters(edges: pa.Table, **params: Any) -> pa.Table:
    """``LeidenClusterer(**params).fit(edges).labels()``: account_id, cluster_id."""
    return LeidenClusterer(**params).fit(edges).labels()


__all__ = ["EDGE_KINDS", "EdgeBuilder", "LeidenClusterer", "build_edges", "find_clusters"]
