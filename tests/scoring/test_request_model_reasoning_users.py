"""Honest customers who ask for step-by-step reasoning (the hand-written world's
``reasoning_users`` option): a tutoring service, math teachers, a team running a CoT
benchmark. Asking for the reasoning is what a reasoning-trace harvest does too, so content
alone must not put them at `attack`, nor mark their requests as harvest."""

from __future__ import annotations

import numpy as np
import pytest

from distillguard.policy import Policy

PERSONAS = ("tutoring_service", "math_teacher", "cot_eval_team")


@pytest.fixture(scope="module")
def worlds(lt):
    return lt.build(0), lt.build(0, reasoning_users=True)


def test_off_by_default_and_the_rest_of_the_world_unchanged(worlds):
    off, on = worlds
    assert not {r["persona"] for r in off.labels} & set(PERSONAS)
    n = len(off.rows["request_id"])
    assert len(on.rows["request_id"]) > n
    assert all(on.rows[c][:n] == off.rows[c] for c in off.rows)
    assert on.accounts[: len(off.accounts)] == off.accounts


def test_they_ask_for_reasoning_from_their_own_cards_and_networks(worlds):
    _, on = worlds
    persona = {r["account_id"]: r["persona"] for r in on.labels}
    ours = {a for a, p in persona.items() if p in PERSONAS}
    assert {persona[a] for a in ours} == set(PERSONAS) and not any(
        r["is_attack"] for r in on.labels if r["account_id"] in ours
    )
    rows = [
        (a, cot, ip)
        for a, cot, ip in zip(on.rows["account_id"], on.rows["sig_cot"], on.rows["ip"], strict=True)
        if a in ours
    ]
    assert np.mean([cot >= 0.5 for _, cot, _ in rows]) > 0.6
    cards = [r["payment_fingerprint"] for r in on.accounts if r["account_id"] in ours]
    assert len(set(cards)) == len(cards)
    others = {
        ip for a, ip in zip(on.rows["account_id"], on.rows["ip"], strict=True) if a not in ours
    }
    assert not {ip for _, _, ip in rows} & others


def _ours(traffic) -> set[str]:
    return {r["account_id"] for r in traffic.labels if r["persona"] in PERSONAS}


@pytest.mark.parametrize("seed", [0, 1])
def test_shipped_models_leave_them_below_attack(lt, seed):
    """The issue's hard-benign target (`attack` FPR <= 0.5%: none of these few accounts) with
    the shipped risk and request models."""
    traffic, engine, _ = lt.analyzed(seed, "builtin", "builtin", reasoning_users=True)
    verdicts = engine.fetch_arrow("SELECT account_id, verdict FROM out_accounts").to_pylist()
    ours = _ours(traffic)
    assert len(ours) == 7
    assert not [r for r in verdicts if r["account_id"] in ours and r["verdict"] == "attack"]


@pytest.mark.parametrize("seed", [0, 1])
def test_none_of_their_requests_is_marked_harvest(lt, seed):
    traffic, engine, _ = lt.analyzed(seed, "builtin", "builtin", reasoning_users=True)
    thr = Policy.load(None).scoring.request_threshold
    marked = engine.fetch_arrow(f"SELECT account_id FROM out_requests WHERE risk >= {thr}")
    assert not set(marked.column("account_id").to_pylist()) & _ours(traffic)
