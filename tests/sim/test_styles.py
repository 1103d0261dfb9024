"""The campaign styles and hard-benign personas random worlds add: each one's defining
behaviour, on the tiny preset (which has one of each)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import numpy as np


def _rows(tiny: dict, persona: str, attack: bool | None = None) -> list[dict]:
    return [
        r
        for r in tiny["records"]
        if r["_persona"] == persona and (attack is None or r["_attack"] == attack)
    ]


def _by_account(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["account_id"]].append(r)
    return out


def _prompt(r: dict) -> str:
    content = r["messages"][-1]["content"]
    return content if isinstance(content, str) else str(content)


def test_shard_accounts_take_disjoint_slices_with_one_jobs_settings(tiny):
    rows = _rows(tiny, "shard", attack=True)
    accounts = _by_account(rows)
    assert len(accounts) >= 5
    prompts = {a: {_prompt(r) for r in rs} for a, rs in accounts.items()}
    pairs = [(a, b) for a in prompts for b in prompts if a < b]
    overlap = [
        len(prompts[a] & prompts[b]) / min(len(prompts[a]), len(prompts[b])) for a, b in pairs
    ]
    assert max(overlap) < 0.2, max(overlap)
    settings = {(r.get("max_tokens"), r.get("temperature"), r.get("stream")) for r in rows}
    assert len(settings) == 1, settings


def test_slow_drip_sends_one_to_five_requests_a_day(tiny):
    per_day = Counter(
        (r["account_id"], dt.datetime.fromisoformat(r["ts"]).date())
        for r in _rows(tiny, "slow_drip", attack=True)
    )
    assert len({a for a, _ in per_day}) >= 20
    counts = np.array(list(per_day.values()))
    assert np.median(counts) <= 3 and np.quantile(counts, 0.95) <= 6, Counter(counts)


def test_cloud_route_carries_no_client_ip_and_no_card(tiny):
    rows = _rows(tiny, "cloud_route", attack=True)
    assert rows
    assert all(r["access_route"].startswith("cloud:") for r in rows)
    assert not any("ip" in r for r in rows)
    assert not any(r.get("payment_fingerprint") for r in rows)
    accounts = {r["account_id"] for r in rows}
    assert all(tiny_account(tiny, a)["payment_fingerprint"] == "" for a in accounts)


def tiny_account(tiny: dict, account_id: str) -> dict:
    return next(a for a in tiny["accounts"] if a["account_id"] == account_id)


def test_adaptive_campaign_hides_in_cover_and_rotates(tiny):
    rows = _rows(tiny, "adaptive")
    accounts = _by_account(rows)
    harvest = [r for r in rows if r["_attack"]]
    cover = [r for r in rows if not r["_attack"]]
    assert 0.3 <= len(cover) / len(rows) <= 0.7  # about half its traffic is cover
    cards = [tiny_account(tiny, a)["payment_fingerprint"] for a in accounts]
    assert len(set(cards)) == len(cards)  # never a shared card
    for rs in accounts.values():
        assert len({r.get("user_agent") for r in rs}) >= 3
        assert len({r.get("ip") for r in rs}) >= 3
    first_lines = [_prompt(r).splitlines()[0] for r in harvest]
    assert len(set(first_lines)) >= 0.5 * len(first_lines)  # paraphrased, not one template


def test_leaderboard_operator_runs_suites_through_many_keys_of_one_org(tiny):
    rows = _rows(tiny, "leaderboard_operator")
    accounts = _by_account(rows)
    assert len(accounts) >= 3
    meta = [tiny_account(tiny, a) for a in accounts]
    assert len({m["org_id"] for m in meta}) == 1
    assert len({m["payment_fingerprint"] for m in meta}) == 1
    assert (
        np.mean(["step by step" in _prompt(r).lower() or "def " in _prompt(r) for r in rows]) > 0.5
    )


def test_labelling_vendor_grades_with_rubrics_behind_one_nat(tiny):
    rows = _rows(tiny, "labelling_vendor")
    assert len({r["account_id"] for r in rows}) >= 4
    assert len({r["ip"] for r in rows}) == 1  # every annotator behind the vendor's NAT
    graded = [
        r
        for r in rows
        if any(
            w in _prompt(r).lower()
            for w in ("score", "rubric", "grade", "rate", "evaluat", "judge")
        )
    ]
    assert len(graded) / len(rows) > 0.8


def test_research_group_generates_synthetic_data_on_the_research_route(tiny):
    rows = _rows(tiny, "research_synthetic")
    accounts = {r["account_id"] for r in rows}
    assert accounts
    routes = {tiny_account(tiny, a)["signup_route"] for a in accounts}
    assert routes <= {"research", "enterprise", "standard"}
    synthetic = [
        r
        for r in rows
        if any(
            w in _prompt(r).lower()
            for w in (
                "generate",
                "example",
                "dataset",
                "variation",
                "synthetic",
                "training",
                "pairs",
                "produce",
                "create",
            )
        )
    ]
    assert len(synthetic) / len(rows) > 0.8
