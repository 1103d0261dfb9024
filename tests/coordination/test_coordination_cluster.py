"""Leiden clusters: campaigns come out whole and pure; benign crowds and lone accounts do not."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.coordination import cluster as cluster_mod
from distillguard.coordination.cluster import LeidenClusterer, edge_pairs, key_index
from distillguard.errors import InvalidParameterError, NotFittedError


def star(groups: dict[str, tuple[list[str], list[str], float]]) -> pa.Table:
    """Edges: for each group, every account links to every key with the given weight."""
    rows = []
    for _, (accounts, keys, w) in groups.items():
        rows += [
            {"account_id": a, "key_kind": "template", "key": k, "weight": w}
            for a in accounts
            for k in keys
        ]
    return pa.Table.from_pylist(rows)


def test_two_campaigns_and_a_weakly_attached_benign_account():
    campaign_a = [f"a{i}" for i in range(8)]
    campaign_b = [f"b{i}" for i in range(6)]
    edges = star({"A": (campaign_a, ["tA1", "tA2"], 0.5), "B": (campaign_b, ["tB"], 0.5)})
    # A benign account touches campaign A's template once but most of its weight is elsewhere.
    extra = pa.Table.from_pylist(
        [
            {"account_id": "benign", "key_kind": "template", "key": "tA1", "weight": 0.02},
            {"account_id": "benign", "key_kind": "ip", "key": "home", "weight": 0.5},
            {"account_id": "neighbour", "key_kind": "ip", "key": "home", "weight": 0.5},
        ]
    )
    cl = LeidenClusterer().fit(pa.concat_tables([edges, extra]))
    got = dict(
        zip(
            cl.members_.column("account_id").to_pylist(),
            cl.members_.column("cluster_id").to_pylist(),
            strict=True,
        )
    )
    assert len({got[a] for a in campaign_a}) == 1 and len({got[b] for b in campaign_b}) == 1
    assert got["a0"] != got["b0"]
    assert "benign" not in got and "neighbour" not in got  # a pair is below min_cluster_size
    assert cl.n_clusters_ == 2
    assert got["a0"] == "C1"  # biggest cluster first
    keys = cl.cluster_keys_.to_pylist()
    assert {
        (k["cluster_id"], k["key"], k["n_members"]) for k in keys if k["cluster_id"] == "C1"
    } == {("C1", "tA1", 8), ("C1", "tA2", 8)}


def test_min_strength_drops_popular_key_crowds():
    crowd = [f"u{i}" for i in range(50)]
    # 50 accounts whose only shared key is a popular prompt, each at a tiny weight.
    edges = star({"hi": (crowd, ["hi"], 0.02)})
    assert LeidenClusterer().fit(edges).n_clusters_ == 0
    assert LeidenClusterer(min_strength=0.0).fit(edges).n_clusters_ == 1


def test_fixed_seed_same_clusters_and_cpm_option(lt):
    _, engine, _ = lt.analyzed(0)
    edges = engine.fetch_arrow("SELECT * FROM graph_edges ORDER BY key_kind, key, account_id")
    a = LeidenClusterer(seed=3).fit(edges).members_
    b = LeidenClusterer(seed=3).fit(edges).members_
    assert a.equals(b)
    cpm = LeidenClusterer(objective="CPM", resolution=0.01).fit(edges)
    assert cpm.n_clusters_ >= 1


def test_campaigns_recovered_pure_on_labelled_traffic(lt):
    traffic, engine, _ = lt.analyzed(0)
    label = {r["account_id"]: r["campaign_id"] or r["persona"] for r in traffic.labels}
    members = engine.fetch_arrow("SELECT * FROM cluster_members").to_pylist()
    by_cluster: dict[str, Counter] = {}
    for m in members:
        by_cluster.setdefault(m["cluster_id"], Counter())[label[m["account_id"]]] += 1
    for camp, size in (("campA", 15), ("campB", 10), ("campC", 60), ("campD", 5)):
        pure = sum(c[camp] for c in by_cluster.values() if c[camp] / sum(c.values()) >= 0.95)
        assert pure >= 0.9 * size, (camp, by_cluster)
    # No benign account sits in a cluster that is mostly attack accounts.
    for c in by_cluster.values():
        attack = sum(v for k, v in c.items() if k.startswith("camp"))
        assert attack == 0 or attack == sum(c.values())


def test_estimator_contract():
    cl = LeidenClusterer()
    assert cl.get_params()["objective"] == "modularity"
    with pytest.raises(NotFittedError):
        cl.labels()
    edges = star({"A": ([f"a{i}" for i in range(4)], ["k"], 1.0)})
    before = edges.to_pylist()
    assert cl.fit(edges) is cl
    assert edges.to_pylist() == before
    assert cl.labels().column_names == ["account_id", "cluster_id"]
    empty = LeidenClusterer().fit(edges.slice(0, 0))
    assert empty.n_clusters_ == 0 and empty.members_.num_rows == 0
    with pytest.raises(InvalidParameterError, match="objective"):
        LeidenClusterer(objective="louvain").fit(edges)
    with pytest.raises(InvalidParameterError, match="lacks column"):
        LeidenClusterer().fit(edges.drop_columns(["weight"]))
    with pytest.raises(InvalidParameterError, match="min_cluster_size"):
        LeidenClusterer(min_cluster_size=1).fit(edges)


def test_core_keys_keep_out_accounts_bound_only_by_rare_side_keys():
    campaign = [f"a{i}" for i in range(10)]
    rows = [
        {"account_id": a, "key_kind": "payment", "key": "card", "weight": 0.6} for a in campaign
    ]
    # A benign user who happens to send three rare prompts that three campaign accounts also sent.
    rows += [
        {"account_id": "user", "key_kind": "template", "key": f"t{i}", "weight": 0.15}
        for i in range(3)
    ]
    rows += [
        {"account_id": campaign[i], "key_kind": "template", "key": f"t{i}", "weight": 0.05}
        for i in range(3)
    ]
    edges = pa.Table.from_pylist(rows)
    strict = LeidenClusterer().fit(edges)
    members = set(strict.members_.column("account_id").to_pylist())
    assert members == set(campaign)
    core = {(k["key"], k["n_members"]) for k in strict.cluster_keys_.to_pylist()}
    assert core == {("card", 10)}


def test_function_wrappers(lt):
    from distillguard.coordination import find_clusters

    edges = star({"A": ([f"a{i}" for i in range(4)], ["k"], 1.0)})
    assert find_clusters(edges).to_pylist() == [
        {"account_id": f"a{i}", "cluster_id": "C1"} for i in range(4)
    ]


def test_a_cluster_needs_min_cluster_size_owners_not_accounts():
    """One verified company's accounts are one owner: bound by keys an outsider also touched,
    they are still one actor (no cluster); the same community spread over three owners is."""
    team = [f"v{i}" for i in range(6)]
    edges = star({"co": (team + ["x1"], ["office", "tpl"], 0.5)})

    def clustered(owner_of_account):
        owners = pa.array([owner_of_account(a) for a in edges.column("account_id").to_pylist()])
        return set(LeidenClusterer().fit(edges.append_column("owner", owners))
                   .members_.column("account_id").to_pylist())

    assert clustered(lambda a: "org:co" if a.startswith("v") else a) == set()  # 2 owners
    three = clustered(lambda a: "org:co" if a in ("v0", "v1", "v2") else a if a == "x1" else "org:b")
    assert three == set(team) | {"x1"}
    assert clustered(lambda a: a) == set(team) | {"x1"}  # every account its own owner
    assert set(LeidenClusterer().fit(edges).members_.column("account_id").to_pylist()) == three


def _dictionary_key_index(edges: pa.Table) -> tuple[list[int], int]:
    """Keys numbered by ``dictionary_encode`` over ``kind \\x1f key`` (the unsorted path)."""
    joined = pc.binary_join_element_wise(edges.column("key_kind"), edges.column("key"), "\x1f")
    enc = pc.dictionary_encode(joined).combine_chunks()
    return enc.indices.to_pylist(), len(enc.dictionary)


def test_key_index_on_sorted_edges_numbers_keys_as_the_dictionary_does():
    rng = np.random.default_rng(7)
    kinds = rng.choice(["ip", "template", "template_window"], 400)
    keys = rng.choice(["k1", "k2", "k10", "k1\x1f", ""], 400)
    edges = pa.table({"key_kind": kinds, "key": keys, "account_id": [f"a{i}" for i in range(400)]})
    ordered = edges.sort_by([("key_kind", "ascending"), ("key", "ascending")])
    for table in (ordered, edges, ordered.slice(0, 1)):  # sorted: by runs; shuffled: fallback
        k_idx, n_key = key_index(table)
        assert (k_idx.tolist(), n_key) == _dictionary_key_index(table)
    assert n_key == 1 and key_index(ordered)[1] == len(set(zip(kinds, keys, strict=True)))
    assert key_index(edges.slice(0, 0))[1] == 0


def test_sorted_edges_give_the_clusters_of_the_dictionary_path(lt, monkeypatch):
    _, engine, _ = lt.analyzed(0)
    edges = engine.fetch_arrow("SELECT * FROM graph_edges ORDER BY key_kind, key, account_id")
    by_runs = LeidenClusterer().fit(edges)
    monkeypatch.setattr(cluster_mod, "in_order", lambda *a: False)  # force dictionary_encode
    by_dictionary = LeidenClusterer().fit(edges)
    assert by_runs.n_clusters_ >= 1
    assert by_runs.members_.equals(by_dictionary.members_)
    assert by_runs.cluster_keys_.equals(by_dictionary.cluster_keys_)
    assert by_runs.quality_ == by_dictionary.quality_


def _joined_cluster_keys(edges: pa.Table, members: pa.Table) -> pa.Table:
    """The cluster keys by a join of the edges with the members (the former implementation)."""
    cols = ["account_id", "key_kind", "key", "weight"]
    if "deg" not in edges.column_names:  # key degree over the whole graph
        deg = edges.group_by(["key_kind", "key"]).aggregate([("account_id", "count")])
        edges = edges.select(cols).join(deg.rename_columns(["key_kind", "key", "deg"]), ["key_kind", "key"])
    joined = edges.select(cols + ["deg"]).join(
        members.select(["account_id", "cluster_id"]), "account_id", join_type="inner"
    )
    g = joined.group_by(["cluster_id", "key_kind", "key"]).aggregate(
        [("account_id", "count"), ("weight", "sum"), ("deg", "max")]
    )
    g = g.rename_columns(["cluster_id", "key_kind", "key", "n_members", "weight", "deg"])
    g = g.filter(pc.greater_equal(g.column("n_members"), 2))
    return g.sort_by([("cluster_id", "ascending"), ("weight", "descending"), ("key", "ascending")])


def test_cluster_keys_grouped_on_integers_match_the_join(lt):
    _, engine, _ = lt.analyzed(0)
    edges = engine.fetch_arrow("SELECT * FROM graph_edges ORDER BY key_kind, key, account_id")
    cl = LeidenClusterer().fit(edges)
    assert cl.cluster_keys_.num_rows > 0
    assert cl.cluster_keys_.equals(_joined_cluster_keys(edges, cl.members_))
    # with a deg column (EdgeBuilder's) it is taken as is
    deg = pc.count(edges.column("key"))  # any constant: only passed through
    with_deg = edges.append_column("deg", pa.array([deg.as_py()] * edges.num_rows, pa.int64()))
    assert LeidenClusterer._cluster_keys(with_deg, cl.members_).equals(
        _joined_cluster_keys(with_deg, cl.members_)
    )
    # unsorted edges take the dictionary path: same keys
    shuffled = edges.take(np.random.default_rng(5).permutation(edges.num_rows))
    unsorted = LeidenClusterer._cluster_keys(shuffled, cl.members_)
    assert unsorted.num_rows == cl.cluster_keys_.num_rows
    empty = LeidenClusterer._cluster_keys(edges, cl.members_.slice(0, 0))
    assert empty.num_rows == 0 and empty.schema.names == cl.cluster_keys_.schema.names


def test_edge_pairs_chunks_cover_every_edge_in_order():
    a, k = np.array([0, 1, 2, 1, 0]), np.array([0, 0, 1, 2, 2])
    assert list(edge_pairs(a, k, n_acc=3, step=2)) == [(0, 3), (1, 3), (2, 4), (1, 5), (0, 5)]
    assert list(edge_pairs(a[:0], k[:0], n_acc=3)) == []
