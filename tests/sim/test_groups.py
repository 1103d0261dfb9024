"""Generator 3 (issue 11): random worlds hold honest coordinated groups (a company team without
a verified organisation, an eval team running one harness from several accounts, a hackathon),
each drawn per world from loose to campaign-tight, from a side stream of their own, so every
other account of a world is generator 2's."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from persona_checks import assert_spans_loose_to_tight, persona_traffic, signup_times

from distillguard.errors import ScenarioError
from distillguard.sim.plan import Tables, build_plan
from distillguard.sim.scenario import GROUP_PERSONAS, Scenario, load_scenario
from distillguard.sim.text import load_bank
from distillguard.sim.world import LATEST_GENERATOR, draw_scenario

G3 = 3  # the generator that draws the groups

TIGHT = {
    "company_team": {
        "office_share": 1.0,
        "office_nat": True,
        "tool_share": 1.0,
        "task_share": 1.0,
        "wordings": 1,
        "team_card": True,
        "signup_wave_days": 0.5,
        "signup_lag_days": 5.0,
    },
    "eval_team": {
        "shared_items": 1.0,
        "sync_runs": 1.0,
        "one_server": True,
        "one_format": True,
        "team_card": True,
        "signup_wave_days": 0.5,
        "signup_lag_days": 5.0,
    },
    "hackathon": {
        "event_day": 0.3,
        "event_days": 1,
        "signup_wave_days": 0.2,
        "venue_share": 1.0,
        "venue_nat": True,
        "starter_kit": 1.0,
        "challenge_share": 1.0,
        "wordings": 1,
        "retention": 0.0,
        "credits": True,
    },
}
LOOSE = {
    "company_team": {
        "office_share": 0.0,
        "office_nat": False,
        "tool_share": 0.0,
        "task_share": 0.0,
        "team_card": False,
        "signup_wave_days": 300.0,
    },
    "eval_team": {
        "shared_items": 0.0,
        "sync_runs": 0.0,
        "one_server": False,
        "one_format": False,
        "signup_wave_days": 300.0,
    },
    "hackathon": {
        "signup_wave_days": 21.0,
        "venue_share": 0.0,
        "starter_kit": 0.0,
        "challenge_share": 0.0,
        "credits": False,
    },
}


# The shares that set how tightly a group coordinates (retention and the event's day do not).
SHARES = {
    "company_team": ("office_share", "tool_share", "task_share"),
    "eval_team": ("shared_items", "sync_runs"),
    "hackathon": ("venue_share", "starter_kit", "challenge_share"),
}


def _groups(size: str, seed: int) -> dict:
    sc = draw_scenario(size, seed, generator=G3)
    return {p: sc.hard_benign[p] for p in GROUP_PERSONAS if p in sc.hard_benign}


def test_random_groups_span_loose_to_tight():
    drawn = [_groups("small", s) for s in range(40)]
    assert_spans_loose_to_tight(drawn, GROUP_PERSONAS, SHARES)
    # tiny and small worlds of one seed share their main stream, not their groups
    assert _groups("tiny", 1) != _groups("small", 1)


@pytest.mark.parametrize("seed", [1, 5, 105])
def test_groups_move_nothing_else_in_the_world(seed):
    new = draw_scenario("small", seed, generator=G3).to_dict()
    old = draw_scenario("small", seed, generator=2).to_dict()
    assert set(new["hard_benign"]) - set(old["hard_benign"]) <= set(GROUP_PERSONAS)
    for persona in GROUP_PERSONAS:
        new["hard_benign"].pop(persona, None)
    assert new == old


def test_the_plan_keeps_every_other_account():
    """Generator 3's plan holds generator 2's accounts unchanged (ids, networks, clients,
    cards, sign-ups) and their work units in the same order, the groups' after them."""
    bank = load_bank(None, use_corpora=False)
    old_sc, new_sc = draw_scenario("tiny", 1, generator=2), draw_scenario("tiny", 1, generator=G3)
    old = build_plan(old_sc, Tables(old_sc, bank), bank, seed=1)
    new = build_plan(new_sc, Tables(new_sc, bank), bank, seed=1)
    n = old.n_accounts
    assert new.n_accounts > n
    assert new.account_id[:n] == old.account_id
    for col in ("payment", "signup_route", "verification", "email_domain", "org_id"):
        assert getattr(new, col)[:n] == getattr(old, col), col
    for col in ("group", "created_ms", "home_ip", "alt_ip", "ua1", "n_req", "key_base", "tz"):
        assert np.array_equal(getattr(new, col)[:n], getattr(old, col)), col
    k = len(old.unit_acct)
    for col in ("unit_acct", "unit_n", "unit_off"):
        assert np.array_equal(getattr(new, col)[:k], getattr(old, col)), col
    kinds = {new.groups[int(g)].kind for g in new.group[n:]}
    assert kinds == set(GROUP_PERSONAS)
    assert len(set(new.account_id)) == new.n_accounts


def test_presets_and_generator_2_have_no_groups():
    for name in ("tiny", "small"):
        assert not set(GROUP_PERSONAS) & set(load_scenario(name).hard_benign)
    assert not set(GROUP_PERSONAS) & set(draw_scenario("tiny", 1, generator=2).hard_benign)
    with pytest.raises(ScenarioError, match="generator must be in"):
        draw_scenario("tiny", 1, generator=LATEST_GENERATOR + 1)


@pytest.mark.parametrize(
    "persona, tactics, message",
    [
        ("company_team", {"office_share": 1.5}, "office_share"),
        ("eval_team", {"one_server": 1}, "one_server"),
        ("hackathon", {"event_days": 0}, "event_days"),
        ("hackathon", {"class_share": 0.5}, "class_share"),
    ],
)
def test_bad_group_tactics_are_named(persona, tactics, message):
    data = draw_scenario("tiny", 2).to_dict()
    data["hard_benign"][persona] = {"accounts": 5, "requests": 50, "tactics": tactics}
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict(data)


def _settings(r: dict) -> tuple:
    return tuple(r.get(k) for k in ("max_tokens", "temperature", "stream", "system"))


def test_tight_groups_share_network_client_settings_and_a_wave(tmp_path: Path, readers):
    got = persona_traffic(tmp_path, readers, TIGHT, accounts=8, requests=400)
    for persona, g in got.items():
        accounts, rows = g["accounts"], g["rows"]
        assert len(accounts) == 8, persona
        assert len({a["org_id"] for a in accounts}) == 8  # no organisation in common
        created = signup_times(accounts)
        assert created[-1] - created[0] <= dt.timedelta(days=0.6), persona
        assert len({r.get("ip") for r in rows}) == 1, persona  # one NAT / one server
        assert len({r["user_agent"] for r in rows}) == 1, persona  # one client
        assert len({_settings(r) for r in rows}) <= 2, persona  # one tuple (per benchmark)
    for persona in ("company_team", "eval_team"):
        cards = {a["payment_fingerprint"] for a in got[persona]["accounts"]}
        assert len(cards) == 1 and cards != {""}, persona  # the company's / lab's card
    hack = got["hackathon"]
    assert {a["payment_fingerprint"] for a in hack["accounts"]} == {""}  # sponsor's credits
    assert {a["signup_route"] for a in hack["accounts"]} <= {"education", "startup"}
    days = {r["ts"][:10] for r in hack["rows"]}
    assert len(days) <= 2  # a one-day event (and its night)
    # the eval team's members run the same items, launched together
    evals = got["eval_team"]["rows"]
    per_acct = Counter(r["messages"][-1]["content"] for r in evals)
    assert per_acct.most_common(1)[0][1] >= 4


def test_loose_groups_share_little(tmp_path: Path, readers):
    got = persona_traffic(tmp_path, readers, LOOSE, accounts=8, requests=400)
    for persona, g in got.items():
        accounts, rows = g["accounts"], g["rows"]
        assert len({a["payment_fingerprint"] for a in accounts}) == 8, persona
        assert len({r.get("ip") for r in rows}) >= 8, persona
        created = signup_times(accounts)
        assert created[-1] - created[0] >= dt.timedelta(days=5), persona
    for persona in ("company_team", "hackathon"):
        assert len({r["user_agent"] for r in got[persona]["rows"]}) > 3, persona
        assert all(r.get("system") is None for r in got[persona]["rows"]), persona
    # the eval team's members run their own item lists (no prompt sent by three members)
    senders: dict[str, set] = {}
    for r in got["eval_team"]["rows"]:
        senders.setdefault(r["messages"][-1]["content"], set()).add(r["account_id"])
    assert max(len(a) for a in senders.values()) <= 2
