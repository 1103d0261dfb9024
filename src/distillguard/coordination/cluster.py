"""Coordinated clusters: Leiden communities of the account–key star graph.

Objective: **modularity** (resolution 1), chosen on purpose over igraph's default CPM:

- the graph is bipartite (accounts ↔ keys, no account–account edges), so the density CPM
  compares with its resolution γ is at most K/(A+K) for A accounts sharing K keys; a fixed γ
  therefore shatters large campaigns (a hydra of thousands of accounts on a handful of templates)
  unless γ is tuned to a campaign size nobody knows in advance;
- modularity's null model is degree-corrected: a key that many accounts touch is *expected* to
  have many edges, so popular benign keys attract no community of their own. This complements
  the FRAUDAR weighting of the edges;
- modularity's resolution limit can only merge groups that are connected; the membership rule
  below then drops accounts that are only weakly attached to their community.

Membership rule: a community's *core keys* are the keys that at least ``core_share`` of its
accounts use (at least 2, and at most ``core_min`` are ever required): a campaign's card, its templates, its synchronised windows. An
account belongs to its community's cluster when at least ``min_attachment`` of its edge weight
goes to core keys and that core weight is at least ``min_strength``. A benign account that
happens to share a few rare prompts with one or two campaign accounts, or only a popular agent
system prompt, is bound by keys that are not core and is left out; so is anyone whose only
link is a single shared popular prompt. Communities with fewer than ``min_cluster_size`` such
members are not clusters.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import igraph as ig
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..accounts._base import Estimator, check_range
from ..errors import InvalidParameterError
from .graph import in_order

CLUSTER_MEMBERS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("cluster_id", pa.string()),
        ("attachment", pa.float64()),
        ("strength", pa.float64()),
    ]
)


def label_clusters(
    names: np.ndarray,
    comm: np.ndarray,
    ok: np.ndarray,
    attach: np.ndarray,
    inside: np.ndarray,
    min_cluster_size: int,
    owners: np.ndarray | None = None,
) -> tuple[pa.Table, int]:
    """The ``cluster_members`` table from any community assignment, and the cluster count.

    Keeps accounts marked ``ok`` in communities with at least ``min_cluster_size`` of them, and
    gives stable ids: biggest cluster first, ties by smallest member id. Shared by the driver
    (Leiden) and the distributed (components) paths so both name clusters the same way.
    ``owners`` (per account: its verified organisation, else itself; ``owner_of``) counts a
    community's size in distinct owners: one company's accounts are one actor, not a ring.
    """
    _, dense = np.unique(comm, return_inverse=True)
    dense = dense.reshape(-1)
    sizes = np.bincount(dense[ok], minlength=int(dense.max()) + 1 if len(dense) else 0)
    if owners is not None and len(dense):
        # distinct (community, owner) pairs among ok accounts, counted per community
        _, own = np.unique(owners, return_inverse=True)
        span = np.int64(own.max()) + 1
        pairs = np.unique(dense[ok].astype(np.int64) * span + own.reshape(-1)[ok])
        n_owner = np.bincount(pairs // span, minlength=len(sizes))
        ok = ok & (n_owner[dense] >= min_cluster_size)
    ok = ok & (sizes[dense] >= min_cluster_size) if len(dense) else ok
    order = sorted(
        {int(c) for c in dense[ok]},
        key=lambda c: (-int(sizes[c]), min(names[ok & (dense == c)])),
    )
    label = {c: f"C{i + 1}" for i, c in enumerate(order)}
    idx = np.flatnonzero(ok)
    members = pa.table(
        {
            "account_id": pa.array(names[idx].tolist(), pa.string()),
            "cluster_id": pa.array([label[int(c)] for c in dense[idx]], pa.string()),
            "attachment": pa.array(attach[idx]),
            "strength": pa.array(inside[idx]),
        },
        schema=CLUSTER_MEMBERS_SCHEMA,
    ).sort_by([("cluster_id", "ascending"), ("account_id", "ascending")])
    return members, len(order)


def owner_of(edges: pa.Table, a_idx: np.ndarray, n_acc: int) -> np.ndarray | None:
    """Per account (``a_idx``: its index on each edge): an integer id of the ``owner`` column of
    its edges (``EdgeBuilder``: its verified organisation, else itself); None without one."""
    if "owner" not in edges.column_names:
        return None
    owner = edges.column("owner")
    if owner.null_count:  # EdgeBuilder's owner is never null: no copy of every edge's string
        owner = pc.coalesce(owner, edges.column("account_id"))
    enc = pc.dictionary_encode(owner).combine_chunks()
    owners = np.zeros(n_acc, np.int64)
    owners[a_idx] = enc.indices.to_numpy(zero_copy_only=False)
    return owners


def edge_pairs(
    a_idx: np.ndarray, k_idx: np.ndarray, n_acc: int, step: int = 65_536
) -> Iterator[tuple[int, int]]:
    """(account node, key node) per edge, in edge order, made ``step`` edges at a time.

    igraph's wheel (Python's limited API) turns a numpy edge array into one Python list of
    pairs before copying it into C: ~150 bytes per edge at once (600 MB on `large`'s 4M
    edges, the run's memory peak) and ~12 s. Fed by this generator igraph builds the same
    graph (same edge ids) holding one chunk of Python pairs at a time, in about half the time.
    """
    for start in range(0, len(a_idx), step):
        stop = start + step
        yield from zip(
            a_idx[start:stop].tolist(), (k_idx[start:stop] + n_acc).tolist(), strict=True
        )


KEY_ORDER: tuple[tuple[str, str], ...] = (("key_kind", "ascending"), ("key", "ascending"))


def key_index(edges: pa.Table) -> tuple[np.ndarray, int]:
    """Per edge, the index of its key (``key_kind``, ``key``), numbered in order of first
    appearance as ``dictionary_encode`` does; and the number of keys.

    On edges sorted by key (``EdgeBuilder``'s order) a key's edges are adjacent, so the index
    counts key changes: the same numbers without a joined copy of every key string and its
    dictionary (hundreds of MB on `large`, at the run's memory peak; BENCHMARKS §2).
    """
    n = edges.num_rows
    if n and in_order(edges.select(["key_kind", "key"]), KEY_ORDER):
        kind, key = edges.column("key_kind"), edges.column("key")
        same = pc.and_(
            pc.equal(kind.slice(0, n - 1), kind.slice(1)),
            pc.equal(key.slice(0, n - 1), key.slice(1)),
        )
        new = np.ones(n, np.int64)
        new[1:] = ~np.asarray(same.to_numpy(zero_copy_only=False), bool)
        k_idx = np.cumsum(new) - 1
        return k_idx, int(k_idx[-1]) + 1
    key_str = pc.binary_join_element_wise(edges.column("key_kind"), edges.column("key"), "\x1f")
    keys = pc.dictionary_encode(key_str).combine_chunks()
    return keys.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(keys.dictionary)


def member_edges(
    edges: pa.Table, members: pa.Table
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """The rows of ``edges`` whose account is in ``members`` (in edge order), each one's member
    position in ``members``, and the code of that member's cluster: an index into
    ``clusters``, also returned (``members``' cluster ids, each once).

    Integers instead of a join with the members: members own most edges (~3M of `large`'s
    4M), and a join copies every one's strings, in an order that changes from call to call.
    """
    pos = pc.index_in(edges.column("account_id"), value_set=members.column("account_id"))
    pos = np.asarray(pc.fill_null(pos, -1).to_numpy(zero_copy_only=False), np.int64)
    rows = np.flatnonzero(pos >= 0)
    enc = pc.dictionary_encode(members.column("cluster_id")).combine_chunks()
    member_cluster = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return rows, pos[rows], member_cluster[pos[rows]], enc.dictionary


class LeidenClusterer(Estimator):
    """Cluster accounts with igraph's ``community_leiden`` on the star graph.

    Parameters
    ----------
    objective : "modularity" (default, see module docstring) or "CPM".
    resolution : Leiden resolution (γ).
    beta : randomness of Leiden's refinement step.
    n_iterations : Leiden iterations (negative: until stable; 4 bounds the run time on big
        graphs, and more changed nothing on the labelled data).
    seed : random seed; a fixed seed gives the same clusters.
    min_cluster_size : fewest members a cluster may have.
    min_attachment : share of an account's edge weight that must stay inside its community.
    min_strength : core-key edge weight an account needs to count as a member.
    core_share : share of a community's accounts that must use a key for it to be a core key...
    core_min : ...capped at this many accounts, so that in a big community a card or template
        shared by a handful of members (a hydra's card rings) still binds them.

    Attributes
    ----------
    members_ : pa.Table (account_id, cluster_id, attachment, strength), clustered accounts only.
    cluster_keys_ : pa.Table (cluster_id, key_kind, key, n_members, weight, deg): keys members
        share, how many members share each, and how many accounts use it overall.
    n_clusters_ : int.
    quality_ : float, the Leiden objective value.
    """

    def __init__(
        self,
        objective: str = "modularity",
        resolution: float = 1.0,
        beta: float = 0.01,
        n_iterations: int = 4,
        seed: int = 0,
        min_cluster_size: int = 3,
        min_attachment: float = 0.5,
        min_strength: float = 0.3,
        core_share: float = 0.2,
        core_min: int = 3,
    ) -> None:
        self.objective = objective
        self.resolution = resolution
        self.beta = beta
        self.n_iterations = n_iterations
        self.seed = seed
        self.min_cluster_size = min_cluster_size
        self.min_attachment = min_attachment
        self.min_strength = min_strength
        self.core_share = core_share
        self.core_min = core_min

    def _validate(self) -> None:
        if self.objective not in ("modularity", "CPM"):
            raise InvalidParameterError(
                f"LeidenClusterer.objective must be 'modularity' or 'CPM'; got {self.objective!r}"
            )
        check_range(self, "resolution", self.resolution, 0.0, None)
        check_range(self, "beta", self.beta, 1e-6, None)
        check_range(self, "min_cluster_size", self.min_cluster_size, 2, None)
        check_range(self, "min_attachment", self.min_attachment, 0.0, 1.0)
        check_range(self, "min_strength", self.min_strength, 0.0, None)
        check_range(self, "core_share", self.core_share, 0.0, 1.0)
        check_range(self, "core_min", self.core_min, 2, None)
        if not isinstance(self.n_iterations, int) or self.n_iterations == 0:
            raise InvalidParameterError(
                f"LeidenClusterer.n_iterations must be a non-zero integer; got {self.n_iterations!r}"
            )

    def fit(self, edges: pa.Table) -> LeidenClusterer:
        """Cluster the accounts of ``edges`` (account_id, key_kind, key, weight)."""
        self._validate()
        for col in ("account_id", "key_kind", "key", "weight"):
            if col not in edges.column_names:
                raise InvalidParameterError(f"edges table lacks column {col!r}")
        acc = pc.dictionary_encode(edges.column("account_id")).combine_chunks()
        a_idx = acc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        k_idx, n_key = key_index(edges)
        weight = np.asarray(edges.column("weight").to_numpy(zero_copy_only=False), float)
        n_acc = len(acc.dictionary)
        self.n_edges_ = int(len(weight))

        if len(weight):
            graph = ig.Graph(n=n_acc + n_key, edges=edge_pairs(a_idx, k_idx, n_acc))
            state = random.getstate()
            rng = random.Random(self.seed)
            ig.set_random_number_generator(rng)
            try:
                part = graph.community_leiden(
                    objective_function=self.objective,
                    weights=weight,
                    resolution=self.resolution,
                    beta=self.beta,
                    n_iterations=self.n_iterations,
                )
            finally:
                ig.set_random_number_generator(random)
                random.setstate(state)
            membership = np.asarray(part.membership, np.int64)
            self.quality_ = float(part.quality)
            del graph, part  # igraph's copy of the edges, before the tables below
        else:
            membership = np.zeros(0, np.int64)
            self.quality_ = 0.0

        comm = membership[:n_acc] if n_acc else np.zeros(0, np.int64)
        n_comm = int(membership.max()) + 1 if len(membership) else 0
        total = np.bincount(a_idx, weights=weight, minlength=n_acc)

        def bound(in_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            inside = np.bincount(a_idx, weights=in_weight, minlength=n_acc)
            attach = np.divide(inside, total, out=np.zeros(n_acc), where=total > 0)
            return (attach >= self.min_attachment) & (inside >= self.min_strength), inside, attach

        # Pass 1: candidates bound to keys Leiden put in their own community.
        same = membership[a_idx] == membership[n_acc + k_idx] if len(weight) else np.zeros(0, bool)
        cand, _, _ = bound(weight * same)
        # Pass 2: core keys, used by >= core_share of the community's candidates (and >= 2);
        # members are candidates bound to core keys. Loose hangers-on of a big community do
        # not dilute its core, and a few rare keys shared with one campaign account do not bind.
        edge_comm = comm[a_idx] if len(weight) else np.zeros(0, np.int64)
        cand_edge = cand[a_idx] if len(weight) else np.zeros(0, bool)
        cand_size = np.bincount(comm[cand], minlength=n_comm)
        pair = edge_comm * np.int64(max(n_key, 1)) + k_idx  # (community, key) as one integer
        uniq_pair, pair_inv = np.unique(pair, return_inverse=True)
        pair_count = np.bincount(
            pair_inv, weights=cand_edge.astype(float), minlength=len(uniq_pair)
        )
        share_need = self.core_share * cand_size[uniq_pair // max(n_key, 1)]
        need = np.maximum(2, np.minimum(self.core_min, share_need))
        core = (pair_count >= need)[pair_inv] if len(weight) else np.zeros(0, bool)
        ok, inside, attach = bound(weight * core)
        ok &= cand
        names = np.asarray(acc.dictionary.to_pylist(), dtype=object)
        members, n_clusters = label_clusters(
            names, comm, ok, attach, inside, self.min_cluster_size, owner_of(edges, a_idx, n_acc)
        )
        self.members_ = members
        self.n_clusters_ = n_clusters
        self.cluster_keys_ = self._cluster_keys(edges, members)
        return self

    @staticmethod
    def _cluster_keys(edges: pa.Table, members: pa.Table) -> pa.Table:
        """For each cluster, the keys its members share and how many members share each.

        Grouped on integers (cluster, key index) over the members' edges in edge order, the
        strings taken once per group: a join of the edges with the members copied every
        member edge's strings, ~3M of `large`'s 4M edges (+650 MB at the graph's peak).
        """
        rows, _, c, clusters = member_edges(edges, members)
        if len(rows) == 0:
            return pa.table(
                {
                    "cluster_id": pa.array([], pa.string()),
                    "key_kind": pa.array([], pa.string()),
                    "key": pa.array([], pa.string()),
                    "n_members": pa.array([], pa.int64()),
                    "weight": pa.array([], pa.float64()),
                    "deg": pa.array([], pa.int64()),
                }
            )
        k_idx, n_key = key_index(edges)
        if "deg" in edges.column_names:
            deg = np.asarray(edges.column("deg").to_numpy(zero_copy_only=False), np.int64)[rows]
        else:  # key degree over the whole graph: its edges (one per account)
            deg = np.bincount(k_idx, minlength=n_key)[k_idx[rows]]
        weight = np.asarray(edges.column("weight").to_numpy(zero_copy_only=False), float)
        per_edge = pa.table(
            {
                "c": c,
                "k": k_idx[rows],
                "row": rows,
                "weight": weight[rows],
                "deg": deg,
            }
        )
        # one thread: each group's weights summed in edge order, the same on every run
        g = per_edge.group_by(["c", "k"], use_threads=False).aggregate(
            [("row", "count"), ("weight", "sum"), ("deg", "max"), ("row", "min")]
        )
        first = g.column("row_min")
        out = pa.table(
            {
                "cluster_id": clusters.take(g.column("c")),
                "key_kind": edges.column("key_kind").take(first),
                "key": edges.column("key").take(first),
                "n_members": g.column("row_count"),
                "weight": g.column("weight_sum"),
                "deg": g.column("deg_max"),
            }
        )
        out = out.filter(pc.greater_equal(out.column("n_members"), 2))
        return out.sort_by(
            [("cluster_id", "ascending"), ("weight", "descending"), ("key", "ascending")]
        )

    def labels(self) -> pa.Table:
        """``cluster_members``: account_id, cluster_id."""
        self._check_fitted("members_")
        return self.members_.select(["account_id", "cluster_id"])
