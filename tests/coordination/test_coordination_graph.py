"""Star edges: every key kind fires on shared attack infrastructure; popular keys weigh little."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.ipintel import IpIntel, enrich_ips
from distillguard.coordination import definitions as d
from distillguard.coordination.graph import EDGE_KINDS, EDGE_ORDER, EdgeBuilder, in_order
from distillguard.engines.base import DIALECT_RULES, DuckDBEngine
from distillguard.errors import InvalidParameterError

H = 3_600_000


def edges_for(lt, rows, accounts=None, **params):
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    if accounts is not None:
        engine.register_arrow("accounts", pa.Table.from_pylist(accounts))
    enrich_ips(engine, IpIntel(use_geoip=False).fit())
    AccountFingerprinter(pivot_min_requests=3).fit(engine)
    eb = EdgeBuilder(**params).fit(engine)
    return eb.edges_.to_pylist(), engine


def kinds_linking(edges, a, b):
    ka = {(e["key_kind"], e["key"]) for e in edges if e["account_id"] == a}
    kb = {(e["key_kind"], e["key"]) for e in edges if e["account_id"] == b}
    return {k for k, _ in ka & kb}


def test_each_infrastructure_kind_links_sharing_accounts(lt):
    rows = []
    for a in ("x1", "x2"):  # two attack accounts on the same proxy exit and client
        rows += [
            {
                "account_id": a,
                "ts_ms": lt.T0 + i * 1000,
                "ip": "95.100.4.9",
                "user_agent": "sdk/1",
                "payment_fingerprint": "card-1",
                "skeleton_hash": 100 + i + (a == "x2") * 10,
            }
            for i in range(5)
        ]
    rows += [
        {
            "account_id": "solo",
            "ts_ms": lt.T0,
            "ip": "81.2.69.160",
            "user_agent": "Firefox",
            "skeleton_hash": 5,
        }
    ]
    edges, _ = edges_for(lt, rows)
    assert {"ip", "prefix24_ua", "payment"} <= kinds_linking(edges, "x1", "x2")
    assert not [
        e for e in edges if e["account_id"] == "solo"
    ]  # keys used by one account only: no edge


def test_payment_from_account_table(lt):
    rows = [
        {"account_id": a, "ts_ms": lt.T0, "skeleton_hash": i + 10}
        for i, a in enumerate(("p1", "p2", "p3"))
    ]
    accounts = [
        {"account_id": a, "payment_fingerprint": "card-9" if a != "p3" else "card-3"}
        for a in ("p1", "p2", "p3")
    ]
    edges, _ = edges_for(lt, rows, accounts)
    assert kinds_linking(edges, "p1", "p2") == {"payment"}
    assert not kinds_linking(edges, "p1", "p3")
    # A card pays for the whole account: no small-account shrinkage on payment keys.
    assert [e["share"] for e in edges if e["key_kind"] == "payment"] == [1.0, 1.0]


def test_template_system_prompt_and_synchronised_window(lt):
    rows = []
    for a in ("s1", "s2"):  # same template, same hour, same system prompt
        rows += [
            {
                "account_id": a,
                "ts_ms": lt.T0 + 5 * H + i * 60_000,
                "skeleton_hash": 42,
                "system_hash": 9,
            }
            for i in range(4)
        ]
    rows += [
        {"account_id": "late", "ts_ms": lt.T0 + 30 * H + i, "skeleton_hash": 42} for i in range(4)
    ]
    edges, _ = edges_for(lt, rows)
    assert kinds_linking(edges, "s1", "s2") == {"template", "system_prompt", "template_window"}
    assert kinds_linking(edges, "s1", "late") == {
        "template"
    }  # same template, other day: no synchrony


def test_synchronised_pivot(lt):
    rel = lt.T0 + 3 * 24 * H
    rows = [
        {
            "account_id": a,
            "ts_ms": lt.T0 + i * H,
            "model": lt.OLD,
            "skeleton_hash": 100 + i + 50 * j,
        }
        for j, a in enumerate(("v1", "v2", "adopter"))
        for i in range(10)
    ]
    for j, a in enumerate(("v1", "v2")):
        rows += [
            {
                "account_id": a,
                "ts_ms": rel + H + i * 60_000,
                "model": lt.NEW,
                "skeleton_hash": 500 + i + 50 * j,
            }
            for i in range(5)
        ]
    rows += [
        {"account_id": "adopter", "ts_ms": rel + 40 * H, "model": lt.NEW, "skeleton_hash": 999}
    ]
    edges, _ = edges_for(lt, rows)
    assert kinds_linking(edges, "v1", "v2") == {"pivot"}
    assert not kinds_linking(edges, "v1", "adopter")


def test_fraudar_weighting_popular_keys_count_little(lt):
    rows = []
    for i in range(60):  # a popular prompt ("hi") that 60 benign accounts send once among others
        a = f"b{i}"
        rows += [{"account_id": a, "ts_ms": lt.T0 + i * H, "skeleton_hash": 1}]
        rows += [
            {"account_id": a, "ts_ms": lt.T0 + i * H + k, "skeleton_hash": 10_000 + 10 * i + k}
            for k in range(1, 10)
        ]
    for a in ("c1", "c2"):  # two accounts whose whole traffic is one rare template
        rows += [
            {"account_id": a, "ts_ms": lt.T0 + 200 * H + k * H, "skeleton_hash": 77}
            for k in range(10)
        ]
    edges, _ = edges_for(lt, rows, kinds=("template",))
    w = {(e["account_id"], e["key"]): e for e in edges}
    popular, rare = w[("b0", "1")], w[("c1", "77")]
    assert popular["deg"] == 60 and rare["deg"] == 2
    # share = n / (n_requests + 2): shrunk so a tiny account is never "entirely" on a key
    assert popular["share"] == pytest.approx(1 / 12) and rare["share"] == pytest.approx(10 / 12)
    assert rare["weight"] == pytest.approx(10 / 12 / np.log(2 + 5))
    assert popular["weight"] == pytest.approx(1 / 12 / np.log(60 + 5))
    assert rare["weight"] > 20 * popular["weight"]


def test_kind_weights_and_validation(lt):
    rows = [{"account_id": a, "ts_ms": lt.T0, "ip": "95.100.4.9"} for a in ("a", "b")]
    edges, _ = edges_for(lt, rows, kinds=("ip",), kind_weights={"ip": 2.0}, share_prior=0.0)
    assert edges[0]["weight"] == pytest.approx(2.0 / np.log(7))
    with pytest.raises(InvalidParameterError, match="kinds"):
        EdgeBuilder(kinds=("shoe_size",)).fit(DuckDBEngine())
    with pytest.raises(InvalidParameterError, match="c must"):
        EdgeBuilder(c=0.5).fit(DuckDBEngine())


def test_graph_edges_table_and_labelled_traffic(lt):
    _, engine, _ = lt.analyzed(0)
    t = engine.fetch_arrow("SELECT * FROM graph_edges")
    assert t.column_names == ["account_id", "key_kind", "key", "weight"]
    kinds = set(t.column("key_kind").to_pylist())
    assert {"ip", "payment", "template", "template_window", "system_prompt"} <= kinds
    # Hydra accounts are linked by their shared templates; benign users mostly are not.
    s = engine.fetch_arrow(
        "SELECT account_id, sum(weight) AS w FROM graph_edges GROUP BY account_id"
    ).to_pylist()
    w = {r["account_id"]: r["w"] for r in s}
    hydra = np.median([w.get(f"atkC{i:02d}", 0) for i in range(60)])
    benign = np.median([w.get(f"ben{i:04d}", 0) for i in range(160)])
    assert hydra > 2 * benign


def test_sql_stays_in_the_common_dialect():
    sql = EdgeBuilder().sql()
    assert "\\" not in sql
    for banned in (
        "list_",
        "array_",
        "unnest",
        "::",
        "epoch(",
        "to_timestamp",
        "UBIGINT",
        "VARCHAR",
    ):
        assert banned.lower() not in sql.lower(), banned
    assert "no list/array functions" in DIALECT_RULES
    assert set(EDGE_KINDS) | set(d.OPTIONAL_KINDS) == set(d.EDGE_KIND_SQL)
    assert not re.search(r"count\(\s*DISTINCT[^)]*\)\s*OVER", sql, re.I)  # Spark forbids it


def test_synchronised_window_of_a_popular_template_counts_less(lt):
    rows = []
    for i in range(40):  # a popular prompt everyone sends at some point
        rows += [{"account_id": f"u{i}", "ts_ms": lt.T0 + i * 3 * H, "skeleton_hash": 1}]
        rows += [{"account_id": f"u{i}", "ts_ms": lt.T0 + i * 3 * H + 1, "skeleton_hash": 1000 + i}]
    for a in ("s1", "s2", "u0"):  # two campaign accounts on a rare template + a popular-prompt pair
        rows += [
            {"account_id": a, "ts_ms": lt.T0 + 5 * 24 * H, "skeleton_hash": 7 if a != "u0" else 1}
        ]
    rows += [{"account_id": "s3", "ts_ms": lt.T0 + 5 * 24 * H, "skeleton_hash": 1}]
    edges, _ = edges_for(lt, rows, kinds=("template", "template_window"))
    win = {(e["account_id"], e["key"]): e for e in edges if e["key_kind"] == "template_window"}
    rare = next(e for (a, k), e in win.items() if a == "s1" and k.startswith("7@"))
    popular = next(e for (a, k), e in win.items() if a == "s3" and k.startswith("1@"))
    assert rare["deg"] == popular["deg"] == 2 and rare["share"] == popular["share"]
    # Same window degree, but the popular template's window is discounted by its popularity.
    assert popular["weight"] == pytest.approx(rare["weight"] * np.log(7) / np.log(41 + 5))


def test_edges_come_sorted_from_the_engine_and_weigh_the_same_in_any_order(lt):
    """The engine sorts the edges (one copy in Python); weighting rows fetched in another
    order sorts them itself, to the same table."""
    _, engine, _ = lt.analyzed(0)
    eb = EdgeBuilder()
    sorted_raw = engine.fetch_arrow(f"SELECT * FROM ({eb.sql()}) ORDER BY random()")
    sorted_raw = sorted_raw.sort_by(list(EDGE_ORDER))
    assert in_order(sorted_raw, EDGE_ORDER)
    shuffled = sorted_raw.take(np.random.default_rng(3).permutation(sorted_raw.num_rows))
    assert not in_order(shuffled, EDGE_ORDER)
    assert eb.weight(shuffled).equals(eb.weight(sorted_raw))
    fitted = EdgeBuilder().fit(engine).edges_
    assert fitted.equals(eb.weight(sorted_raw))
    assert in_order(fitted, EDGE_ORDER)


def test_in_order_compares_later_keys_only_on_ties():
    order = (("a", "ascending"), ("b", "ascending"))
    ok = pa.table({"a": ["x", "x", "y", "y"], "b": ["2", "3", "1", "1"]})
    assert in_order(ok, order)
    assert not in_order(pa.table({"a": ["x", "x", "y"], "b": ["3", "2", "1"]}), order)
    assert not in_order(pa.table({"a": ["y", "x"], "b": ["1", "2"]}), order)
    assert not in_order(pa.table({"a": ["x", None], "b": ["1", "2"]}), order)  # nulls: sort
    assert in_order(ok.slice(0, 1), order) and in_order(ok.slice(0, 0), order)


def _org_traffic(lt):
    """A business-verified company (v1–v3: one card, one office IP), two accounts claiming an
    unverified org (u1, u2: one card) and a visitor (x1) on the company's office IP."""
    rows, accounts = [], []
    people = {"v1": ("co", "business", "card-co", "81.2.69.10"),
              "v2": ("co", "id", "card-co", "81.2.69.10"),
              "v3": ("co", "email", "card-co", "81.2.69.10"),
              "u1": ("ring", "email", "card-r", "95.100.4.1"),
              "u2": ("ring", "none", "card-r", "95.100.4.2"),
              "x1": (None, "phone", "card-x", "81.2.69.10")}
    for i, (a, (org, ver, card, ip)) in enumerate(people.items()):
        rows += [{"account_id": a, "ts_ms": lt.T0 + j * 1000, "ip": ip if a != "x1" or j == 0
                  else "62.1.1.1", "user_agent": f"ua-{a}", "skeleton_hash": 100 * i + j}
                 for j in range(4)]
        accounts.append({"account_id": a, "org_id": org, "verification": ver,
                         "payment_fingerprint": card})
    return rows, accounts


def test_keys_one_verified_organisation_shares_link_nothing(lt):
    rows, accounts = _org_traffic(lt)
    edges, _ = edges_for(lt, rows, accounts)
    # the company's card is its own: no payment edge; its office IP a visitor also used links
    assert not kinds_linking(edges, "v2", "v3") - {"ip", "prefix24_ua", "asn_ua"}
    assert ("payment", "card-co") not in {(e["key_kind"], e["key"]) for e in edges}
    assert "ip" in kinds_linking(edges, "v1", "x1")
    # an org nobody verified is no owner: its accounts' shared card still links them
    assert "payment" in kinds_linking(edges, "u1", "u2")
    owner = {e["account_id"]: e["owner"] for e in edges}
    assert owner["v1"] == owner["v2"] == "org:co" and owner["u1"] == "u1" and owner["x1"] == "x1"
    # and without an account table every account is its own owner, as before
    plain, _ = edges_for(lt, rows)
    assert {e["owner"] for e in plain} == {e["account_id"] for e in plain}
