"""The red-team bench's daily batch: ``detect`` runs into the service's store, and the
service's verdict cache is reloaded from it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from distillguard.bench.redteam import run_strategy
from distillguard.bench.redteam_gateway import Gateway, HttpGateway, InProcessGateway
from distillguard.bench.redteam_world import load_world
from distillguard.errors import InvalidParameterError
from distillguard.online.verdicts import ATTACK_VERDICTS


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, InProcessGateway]:
    root = tmp_path_factory.mktemp("redteam-batch")
    world = load_world("tiny", 3, root / "worlds", hours=60)
    gw = InProcessGateway(root / "service", None, "memory")
    res = run_strategy(world, "patient-solo", gw, "distillguard", answers=400, seed=3,
                       max_accounts=200, batch_every_hours=24)
    return res.__dict__, gw


def test_the_batch_runs_once_per_simulated_day(batched: tuple[dict, InProcessGateway]) -> None:
    res, _ = batched
    runs = res["batch_runs"]
    assert [r["day"] for r in runs] == [1, 2]  # 60 hours: after 24 h and after 48 h
    assert all(r["requests"] > 0 for r in runs)


def test_the_store_holds_benign_and_attacker_requests_as_the_gateway_saw_them(
    batched: tuple[dict, InProcessGateway],
) -> None:
    _, gw = batched
    con = duckdb.connect(str(gw.scorer.data_dir / "store.duckdb"), read_only=True)
    try:
        n_attack, n_benign = con.execute(
            "SELECT count(*) FILTER (WHERE request_id LIKE 'req_rt_%'),"
            " count(*) FILTER (WHERE request_id NOT LIKE 'req_rt_%') FROM requests"
        ).fetchone()
        stored = {a for (a,) in con.execute("SELECT account_id FROM out_accounts").fetchall()}
    finally:
        con.close()
    assert n_attack > 0 and n_benign > 0
    # the service's cache is the store's latest verdicts, attacker accounts included
    assert set(gw.scorer.cache.accounts) == stored
    assert any(a.startswith("acct_rt") for a in stored)
    assert any(not a.startswith("acct_rt") for a in stored)


def test_the_reloaded_verdicts_are_the_ones_the_last_run_reported(
    batched: tuple[dict, InProcessGateway],
) -> None:
    res, gw = batched
    # batch's attack verdicts acting online: a block (attack) or a challenge (own-attack)
    flagged = sum(1 for v in gw.scorer.cache.accounts.values() if v.verdict in ATTACK_VERDICTS)
    assert res["batch_runs"][-1]["attack_accounts"] == flagged
    assert gw.scorer.cache.source.endswith("store.duckdb")


def test_no_detector_runs_no_batch_and_http_is_refused(tmp_path: Path) -> None:
    world = load_world("tiny", 3, tmp_path / "worlds", hours=30)
    res = run_strategy(world, "naive", Gateway(), "none", answers=20, seed=3, max_accounts=20,
                       batch_every_hours=24)
    assert res.batch_runs == []
    gw = HttpGateway("http://127.0.0.1:9")
    with pytest.raises(InvalidParameterError):
        run_strategy(world, "naive", gw, "distillguard", answers=20, seed=3, max_accounts=20,
                     batch_every_hours=24)


def test_the_account_table_carries_each_accounts_organisation(
    batched: tuple[dict, InProcessGateway],
) -> None:
    """Batch counts a card's owners by organisation: without ``org_id`` every team sharing
    its company card is a payment ring."""
    import csv

    _, gw = batched
    folder = gw.scorer.data_dir / "daily-batch"
    with open(sorted(folder.glob("accounts-day*.csv"))[-1], newline="", encoding="utf-8") as fh:
        rows = {r["account_id"]: r["org_id"] for r in csv.DictReader(fh)}
    world = load_world("tiny", 3, gw.scorer.data_dir.parent / "worlds", hours=60)
    benign = {a: o for a, o in rows.items() if a in world.orgs}
    assert benign and all(o == world.orgs[a] for a, o in benign.items())
    # a self-serve attacker account is its own organisation, as its requests say (one held at
    # sign-up never sent any: no organisation, so batch counts it as its own owner too)
    attackers = {a: o for a, o in rows.items() if a.startswith("acct_rt") and o}
    assert attackers and all(o == "org_" + a[-8:] for a, o in attackers.items())


def test_no_batch_cluster_is_one_verified_organisations_accounts(
    batched: tuple[dict, InProcessGateway],
) -> None:
    """A company's accounts share its card and office: batch's clusters count owners (the
    account's business-verified organisation, else itself), so every cluster spans three."""
    _, gw = batched
    con = duckdb.connect(str(gw.scorer.data_dir / "store.duckdb"), read_only=True)
    try:
        # the world has such a company: one verified org, one card, several accounts
        companies = con.execute("""
            SELECT org_id FROM accounts WHERE org_id IS NOT NULL GROUP BY org_id
            HAVING count(*) >= 3 AND count(DISTINCT payment_fingerprint) = 1
               AND bool_or(verification = 'business')""").fetchall()
        owners = con.execute("""
            WITH v AS (SELECT org_id FROM accounts WHERE verification = 'business'
                       GROUP BY org_id)
            SELECT c.cluster_id, count(DISTINCT coalesce(v.org_id, c.account_id))
            FROM cluster_members c LEFT JOIN accounts a ON c.account_id = a.account_id
            LEFT JOIN v ON a.org_id = v.org_id GROUP BY c.cluster_id""").fetchall()
    finally:
        con.close()
    assert companies and owners
    assert min(n for _, n in owners) >= 3
