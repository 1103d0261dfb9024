"""The cluster page's account–key graph: what a reviewer sees on hover and in the legend."""

from __future__ import annotations

from distillguard.console.plots import cluster_graph_figure
from distillguard.console.queries import edge_category


def _graph() -> dict:
    accounts = [{"account_id": f"a{i}", "risk": i / 10, "verdict": "attack"} for i in range(5)]
    keys = [
        {"key_kind": "payment", "key": "card-1", "n": 3},
        {"key_kind": "ip24", "key": "10.0.0", "n": 2},
    ]
    edges = [
        {"account_id": f"a{i}", "key_kind": "payment", "key": "card-1", "weight": 1.0}
        for i in range(3)
    ] + [
        {"account_id": f"a{i}", "key_kind": "ip24", "key": "10.0.0", "weight": None}
        for i in (3, 4)
    ]
    edges.append({"account_id": "gone", "key_kind": "ip24", "key": "10.0.0", "weight": 1.0})
    return {"accounts": accounts, "keys": keys, "edges": edges}


def test_accounts_keys_and_one_legend_entry_per_evidence_class() -> None:
    fig = cluster_graph_figure(_graph(), "C1")
    by_name = {t.name: t for t in fig.data}
    classes = {edge_category("payment"), edge_category("ip24")}
    assert set(by_name) == classes | {"accounts", "shared keys"}
    accounts = by_name["accounts"]
    assert list(accounts.customdata) == [f"a{i}" for i in range(5)]
    assert accounts.text[4] == "a4<br>risk 0.40 · attack"
    assert list(by_name["shared keys"].text) == [
        "payment: card-1<br>3 accounts",
        "ip24: 10.0.0<br>2 accounts",
    ]
    # an edge to an account outside the graph is not drawn: 3 + 2 segments of 3 points each
    drawn = sum(len(by_name[c].x) for c in classes)
    assert drawn == 5 * 3


def test_the_layout_is_seeded_and_an_empty_graph_says_so() -> None:
    a = cluster_graph_figure(_graph(), "C1", seed=7).to_json()
    assert a == cluster_graph_figure(_graph(), "C1", seed=7).to_json()
    empty = cluster_graph_figure({"accounts": [], "keys": [], "edges": []})
    assert empty.layout.title.text == "no members" and not empty.data
