"""Organisation-aware edges: the same rows on Spark as on the embedded DuckDB (the edge SQL is
the common subset both engines run), so batch on either engine links the same accounts."""

from __future__ import annotations

import pyarrow as pa
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_org_aware_edges_equal_on_both_engines(lt):
    from distillguard.accounts.fingerprint import AccountFingerprinter
    from distillguard.accounts.ipintel import IpIntel, enrich_ips
    from distillguard.coordination.graph import EdgeBuilder
    from distillguard.engines.base import DuckDBEngine
    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.engines.spark.session import spark_session

    rows, accounts = [], []
    for i, (a, org, ver) in enumerate((("v1", "co", "business"), ("v2", "co", "id"),
                                       ("v3", "co", "email"), ("u1", "ring", "email"),
                                       ("u2", "ring", "none"), ("x1", None, "phone"))):
        card = {"co": "card-co", "ring": "card-r"}.get(org, "card-x")
        rows += [{"account_id": a, "ts_ms": lt.T0 + j * 1000, "skeleton_hash": 7 + (j > 1) * i,
                  "ip": "81.2.69.10" if org != "ring" else "95.100.4.1", "user_agent": "ua"}
                 for j in range(4)]
        accounts.append({"account_id": a, "org_id": org, "verification": ver,
                         "payment_fingerprint": card})
    duck = DuckDBEngine()
    duck.register_arrow("requests", lt.requests_table(rows))
    duck.register_arrow("accounts", pa.Table.from_pylist(accounts))
    spk = SparkEngine(spark_session("local[2]", shuffle_partitions=4))
    for table in ("requests", "accounts"):
        spk.register_arrow(table, duck.fetch_arrow(f"SELECT * FROM {table}"))
    intel = IpIntel(use_geoip=False).fit()
    got, feats = [], []
    for engine in (duck, spk):
        enrich_ips(engine, intel)
        f = AccountFingerprinter(pivot_min_requests=3).fit(engine).features_
        feats.append(sorted(f.select(["account_id", "card_owners", "harvest_circle"]).to_pylist(),
                            key=lambda r: r["account_id"]))
        e = EdgeBuilder().fit(engine).edges_
        got.append(e.select(["account_id", "key_kind", "key", "deg", "owner"]).to_pylist())
    assert got[0] == got[1]
    # payment rings read the same owner rule (accounts.definitions.ACCOUNT_OWNER) on both
    assert feats[0] == feats[1]
    owners = {r["account_id"]: r["card_owners"] for r in feats[0]}
    assert owners["v1"] == 1 and owners["u1"] == 2  # the verified company; the claimed org
    keys = {(r["key_kind"], r["key"]) for r in got[0]}
    assert ("payment", "card-r") in keys and ("payment", "card-co") not in keys
    assert {r["owner"] for r in got[0] if r["account_id"].startswith("v")} == {"org:co"}


def test_components_path_counts_owners_as_leiden_does():
    """Above ``max_driver_edges`` Spark clusters by components: one verified organisation's
    accounts are still one owner there, so they make no cluster on either path."""
    from distillguard.coordination.cluster import LeidenClusterer
    from distillguard.engines.spark.cluster import CrossoverClusterer
    from distillguard.engines.spark.engine import SparkEngine
    from distillguard.engines.spark.session import spark_session

    rows = []
    for g, owner in (("x", None), ("v", "org:co")):  # a ring; a company's team
        for i in range(5):
            for kind, key, w in (("template", f"tpl-{g}", 0.9), ("payment", f"pay-{g}", 0.8)):
                rows.append({"account_id": f"{g}{i}", "key_kind": kind, "key": key, "weight": w,
                             "owner": owner or f"{g}{i}"})
    edges = pa.Table.from_pylist(rows)
    eng = SparkEngine(spark_session("local[2]", shuffle_partitions=4))
    for limit in (0, None):  # components, then Leiden on the driver
        kw = {} if limit is None else {"max_driver_edges": limit}
        cl = CrossoverClusterer(LeidenClusterer(min_cluster_size=3), eng, **kw).fit(edges)
        assert set(cl.labels().column("account_id").to_pylist()) == {f"x{i}" for i in range(5)}
