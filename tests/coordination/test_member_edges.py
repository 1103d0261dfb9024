"""Members' edges on integers (``member_edges``): the shared key of each member and the
clusters' synchrony equal the former joins, with ties broken by the edges' order."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.coordination.cluster import KEY_ORDER, LeidenClusterer, member_edges
from distillguard.scoring.analyze import _shared_key_of_members
from distillguard.scoring.scorer import SYNC_KINDS, ClusterScorer

EVIDENCE = ("harvest_content", "weak_verification", "new_account", "anonymised_ips",
            "payment_ring", "ip_rotation")


def _edges(rows: list[tuple[str, str, str, float]]) -> pa.Table:
    """Edges (account_id, key_kind, key, weight) in EdgeBuilder's order (by key)."""
    t = pa.Table.from_pylist(
        [{"account_id": a, "key_kind": k, "key": key, "weight": w} for a, k, key, w in rows]
    )
    return t.sort_by(list(KEY_ORDER))


def _joined_shared_key(edges: pa.Table, members: pa.Table, keys: pa.Table, ids: pa.Array) -> dict:
    """The former implementation: joins, then a stable sort by account and weight over the
    join's rows (edge order on a one-batch table)."""
    j = (
        edges.select(["account_id", "key_kind", "key", "weight"])
        .join(members.select(["account_id", "cluster_id"]), "account_id", join_type="inner")
        .join(keys.select(["cluster_id", "key_kind", "key", "n_members"]),
              ["cluster_id", "key_kind", "key"], join_type="inner")
        .sort_by([("account_id", "ascending"), ("weight", "descending")])
    )
    pos = {a: i for i, a in enumerate(ids.to_pylist())}
    out: dict[int, tuple[str, int]] = {}
    for a, kind, m in zip(*(j.column(c).to_pylist() for c in ("account_id", "key_kind", "n_members")),
                          strict=True):
        out.setdefault(pos[a], (kind, int(m)))
    return out


def test_member_edges_in_edge_order_with_cluster_codes():
    edges = _edges([("a", "ip", "1", 1.0), ("x", "ip", "1", 1.0), ("b", "template", "t", 1.0)])
    members = pa.table({"account_id": ["b", "a"], "cluster_id": ["C2", "C1"]})
    rows, member, code, clusters = member_edges(edges, members)
    assert rows.tolist() == [0, 2]  # x is no member
    assert member.tolist() == [1, 0]
    assert clusters.take(pa.array(code)).to_pylist() == ["C1", "C2"]


def test_shared_key_heaviest_then_first_in_edge_order():
    # a: payment p and template t tie at 2.0 (payment first by key order); ip i is lighter.
    # b: only template t and ip i; i is heavier. c, d: fellow members. z: not a member.
    rows = [
        ("a", "payment", "p", 2.0), ("c", "payment", "p", 2.0),
        ("a", "template", "t", 2.0), ("b", "template", "t", 1.0), ("c", "template", "t", 2.0),
        ("d", "template", "t", 2.0),
        ("a", "ip", "i", 1.0), ("b", "ip", "i", 3.0), ("d", "ip", "i", 3.0), ("z", "ip", "i", 3.0),
        ("b", "ua", "u", 9.0),  # b's own key, shared with no member: not a cluster key
    ]
    edges = _edges(rows)
    members = pa.table({"account_id": ["a", "b", "c", "d"], "cluster_id": ["C1"] * 4})
    keys = LeidenClusterer._cluster_keys(edges, members)
    ids = pa.array(["z", "d", "c", "b", "a"])
    got = _shared_key_of_members(SimpleNamespace(edges_=edges),
                                 SimpleNamespace(members_=members, cluster_keys_=keys), ids)
    assert got == {4: ("payment", 2), 3: ("ip", 3), 2: ("payment", 2), 1: ("ip", 3)}
    assert got == _joined_shared_key(edges, members, keys, ids)
    # ties follow the edges' order: put template first and it wins for a
    flipped = pa.concat_tables([edges.filter(pc.equal(edges["key_kind"], "template")),
                                edges.filter(pc.not_equal(edges["key_kind"], "template"))])
    got = _shared_key_of_members(SimpleNamespace(edges_=flipped),
                                 SimpleNamespace(members_=members, cluster_keys_=keys), ids)
    assert got[4] == ("template", 4)
    assert got == _joined_shared_key(flipped, members, keys, ids)


def test_shared_key_matches_the_join_on_labelled_traffic(lt):
    _, engine, _ = lt.analyzed(0)
    edges = engine.fetch_arrow("SELECT * FROM graph_edges ORDER BY key_kind, key, account_id")
    cl = LeidenClusterer().fit(edges)
    ids = pa.array(sorted(set(edges.column("account_id").to_pylist())))
    got = _shared_key_of_members(SimpleNamespace(edges_=edges), cl, ids)
    assert len(got) == cl.members_.num_rows > 0
    assert got == _joined_shared_key(edges, cl.members_, cl.cluster_keys_, ids)


def _joined_synchrony(edges: pa.Table, members: pa.Table) -> dict[str, float]:
    """Synchrony per cluster by the former join (one batch: edge order)."""
    j = edges.select(["account_id", "key_kind", "weight"]).join(
        members.select(["account_id", "cluster_id"]), "account_id", join_type="inner")
    total: dict[str, float] = {}
    synced: dict[str, float] = {}
    for c, kind, w in zip(*(j.column(x).to_pylist() for x in ("cluster_id", "key_kind", "weight")),
                          strict=True):
        total[c] = total.get(c, 0.0) + w
        synced[c] = synced.get(c, 0.0) + (w if kind in SYNC_KINDS else 0.0)
    return {c: synced[c] / total[c] for c in total}


def test_cluster_synchrony_on_member_edges_matches_the_join(lt):
    _, engine, _ = lt.analyzed(0)
    edges = engine.fetch_arrow("SELECT * FROM graph_edges ORDER BY key_kind, key, account_id")
    cl = LeidenClusterer().fit(edges)
    ids = pa.array(sorted(set(edges.column("account_id").to_pylist())))
    strengths = {k: np.linspace(0, 1, len(ids)) for k in EVIDENCE}
    cs = ClusterScorer().fit(cl.members_, ids, strengths, edges)
    got = dict(zip(cs.clusters_.column("cluster_id").to_pylist(),
                   cs.clusters_.column("s_synchrony").to_pylist(), strict=True))
    want = _joined_synchrony(edges, cl.members_)
    assert got.keys() == want.keys() and len(got) > 0
    assert all(abs(got[c] - want[c]) < 1e-12 for c in got)
    assert any(v > 0 for v in got.values())  # the traffic has synchronised campaigns
