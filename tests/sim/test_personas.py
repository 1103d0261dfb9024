"""Generator 4 (issue 11): random worlds hold honest math teachers and tutoring services, each
drawn per world from loose to campaign-tight, from side streams of their own, so every other
account of a world is generator 3's (plan, accounts and every request)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from persona_checks import assert_spans_loose_to_tight, persona_traffic, signup_times

from distillguard.errors import ScenarioError
from distillguard.sim import simulate
from distillguard.sim.plan import Tables, build_plan
from distillguard.sim.scenario import (
    G4_PERSONAS,
    GROUP_PERSONAS,
    Scenario,
    load_scenario,
)
from distillguard.sim.text import load_bank
from distillguard.sim.world import GENERATOR_ENV, LATEST_GENERATOR, draw_scenario

G4 = 4  # the generator that draws the personas

TIGHT = {
    "math_teacher": {
        "same_school": 1.0,
        "school_share": 1.0,
        "school_nat": True,
        "managed_browser": 1.0,
        "shared_curriculum": 1.0,
        "worksheet_share": 1.0,
        "rubric_share": 0.0,
        "wordings": 1,
        "district_card": True,
        "signup_wave_days": 0.5,
        "signup_lag_days": 5.0,
    },
    "tutoring_service": {
        "business_verified": False,
        "company_card": True,
        "one_backend": True,
        "form_share": 1.0,
        "forms": 1,
        "stepwise": 1.0,
        "followups": 0.0,
        "local_students": 1.0,
        "signup_wave_days": 0.2,
        "signup_lag_days": 5.0,
    },
}
LOOSE = {
    "math_teacher": {
        "same_school": 0.0,
        "school_share": 0.2,
        "shared_curriculum": 0.0,
        "wordings": 12,
        "district_card": False,
        "signup_wave_days": 300.0,
    },
    "tutoring_service": {
        "business_verified": True,
        "company_card": False,
        "one_backend": False,
        "form_share": 0.1,
        "forms": 12,
        "stepwise": 0.2,
        "followups": 0.8,
        "local_students": 0.3,
    },
}
# The shares that set how tightly a persona coordinates.
SHARES = {
    "math_teacher": ("same_school", "school_share", "managed_browser", "shared_curriculum"),
    "tutoring_service": ("form_share", "stepwise", "followups"),
}


def _personas(size: str, seed: int) -> dict:
    sc = draw_scenario(size, seed, generator=G4)
    return {p: sc.hard_benign[p] for p in G4_PERSONAS if p in sc.hard_benign}


def test_random_personas_span_loose_to_tight():
    drawn = [_personas("small", s) for s in range(40)]
    assert_spans_loose_to_tight(drawn, G4_PERSONAS, SHARES)
    services = [d["tutoring_service"].accounts for d in drawn if "tutoring_service" in d]
    assert min(services) == 1 and max(services) >= 8  # one account .. many
    assert _personas("tiny", 1) != _personas("small", 1)


@pytest.mark.parametrize("seed", [1, 5, 105])
def test_personas_move_nothing_else_in_the_scenario(seed):
    new = draw_scenario("small", seed, generator=G4).to_dict()
    old = draw_scenario("small", seed, generator=3).to_dict()
    assert set(new["hard_benign"]) - set(old["hard_benign"]) <= set(G4_PERSONAS)
    for persona in G4_PERSONAS:
        new["hard_benign"].pop(persona, None)
    assert new == old


def test_the_plan_keeps_every_generator_3_account():
    """Generator 4's plan holds generator 3's accounts unchanged (ids, networks, clients,
    cards, sign-ups, key seeds) and their work units in the same order, the personas' after."""
    bank = load_bank(None, use_corpora=False)
    old_sc, new_sc = draw_scenario("tiny", 1, generator=3), draw_scenario("tiny", 1, generator=G4)
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
    assert {new.groups[int(g)].kind for g in new.group[n:]} == set(G4_PERSONAS)
    assert {old.groups[int(g)].kind for g in old.group} >= set(GROUP_PERSONAS)
    assert len(set(new.account_id)) == new.n_accounts


def _by_account(records: list[dict]) -> dict[str, list]:
    """Each account's requests without the request id (ids number the whole log's rows)."""
    out: dict[str, list] = defaultdict(list)
    for r in records:
        out[r["account_id"]].append(sorted((k, str(v)) for k, v in r.items() if k != "request_id"))
    return {a: sorted(rows) for a, rows in out.items()}


def test_every_generator_3_account_sends_the_same_requests(tmp_path: Path, readers):
    read_log, read_csv = readers
    got = {}
    for gen in (3, G4):
        out = tmp_path / f"g{gen}"
        sc = draw_scenario("tiny", 1, generator=gen)
        simulate(sc, out=out, seed=1, progress=False, use_corpora=False)
        got[gen] = (
            _by_account(read_log(out / "requests.jsonl.gz")),
            {a["account_id"]: a for a in read_csv(out / "accounts.csv")},
            {a["account_id"]: a for a in read_csv(out / "labels.csv")},
        )
    (old_rows, old_acc, old_lab), (new_rows, new_acc, new_lab) = got[3], got[G4]
    assert {a: new_rows[a] for a in old_rows} == old_rows
    assert {a: new_acc[a] for a in old_acc} == old_acc
    assert {a: new_lab[a] for a in old_lab} == old_lab
    added = Counter(new_lab[a]["persona"] for a in set(new_lab) - set(old_lab))
    assert set(added) == set(G4_PERSONAS)
    assert all(new_lab[a]["is_attack"] == "0" for a in set(new_lab) - set(old_lab))


def test_presets_and_generator_3_have_no_teachers_or_tutoring():
    for name in ("tiny", "small"):
        assert not set(G4_PERSONAS) & set(load_scenario(name).hard_benign)
    for gen in (2, 3):
        assert not set(G4_PERSONAS) & set(draw_scenario("tiny", 1, generator=gen).hard_benign)
    with pytest.raises(ScenarioError, match="generator must be in"):
        draw_scenario("tiny", 1, generator=LATEST_GENERATOR + 1)


@pytest.mark.parametrize(
    "persona, tactics, message",
    [
        ("math_teacher", {"same_school": 1.5}, "same_school"),
        ("math_teacher", {"wordings": 0}, "wordings"),
        ("tutoring_service", {"one_backend": 1}, "one_backend"),
        ("tutoring_service", {"office_share": 0.5}, "office_share"),
    ],
)
def test_bad_persona_tactics_are_named(persona, tactics, message):
    data = draw_scenario("tiny", 2).to_dict()
    data["hard_benign"][persona] = {"accounts": 5, "requests": 50, "tactics": tactics}
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict(data)


def _user_text(r: dict) -> str:
    return next(m["content"] for m in reversed(r["messages"]) if m["role"] == "user")


def test_tight_personas_share_network_client_card_forms(tmp_path: Path, readers, contract_problems):
    got = persona_traffic(tmp_path, readers, TIGHT, accounts=6, requests=360, use_corpora=False)
    for persona, g in got.items():
        accounts, rows = g["accounts"], g["rows"]
        assert len(accounts) == 6, persona
        assert all(not contract_problems(r) for r in rows), persona
        ips = Counter(r.get("ip") for r in rows)  # the school NAT / the app's one backend
        assert ips.most_common(1)[0][1] >= 0.8 * len(rows), persona
        clients = Counter(r["user_agent"] for r in rows)  # managed build / the app's client
        assert clients.most_common(1)[0][1] >= 0.85 * len(rows), persona
        cards = {a["payment_fingerprint"] for a in accounts}
        assert len(cards) == 1 and cards != {""}, persona  # the district's / startup's card
        assert len({a["org_id"] for a in accounts}) == 6, persona  # never a verified org
        created = signup_times(accounts)
        assert created[-1] - created[0] <= dt.timedelta(days=0.6), persona
    teacher = got["math_teacher"]["rows"]
    # worksheets of the shared textbook: the same items, asked by several teachers
    askers: dict[str, set] = defaultdict(set)
    for r in teacher:
        askers[_user_text(r)].add(r["account_id"])
    assert max(len(a) for a in askers.values()) >= 3
    hours = Counter(dt.datetime.fromisoformat(r["ts"]).weekday() for r in teacher)
    assert hours[5] + hours[6] == 0  # school sessions on school days only
    tutor = got["tutoring_service"]
    assert {a["signup_route"] for a in tutor["accounts"]} == {"startup"}
    assert {a["verification"] for a in tutor["accounts"]} != {"business"}
    assert len({r.get("system") or r["messages"][0]["content"] for r in tutor["rows"]}) == 1
    assert all(len(r["messages"]) <= 2 for r in tutor["rows"])  # no follow-ups


def test_loose_personas_share_little(tmp_path: Path, readers, contract_problems):
    got = persona_traffic(tmp_path, readers, LOOSE, accounts=6, requests=360, use_corpora=False)
    for persona, g in got.items():
        assert all(not contract_problems(r) for r in g["rows"]), persona
    teachers = got["math_teacher"]
    assert len({a["payment_fingerprint"] for a in teachers["accounts"]}) == 6
    assert len({r.get("ip") for r in teachers["rows"]}) >= 6
    assert signup_times(teachers["accounts"])[-1] - signup_times(teachers["accounts"])[0] > dt.timedelta(
        days=5
    )
    askers: dict[str, set] = defaultdict(set)
    for r in teachers["rows"]:
        if len(r["messages"]) == 1:  # a first turn (a chat's follow-ups are common phrases)
            askers[_user_text(r)].add(r["account_id"])
    assert max(len(a) for a in askers.values()) <= 2  # own worksheets, own phrasing
    tutor = got["tutoring_service"]
    assert {a["verification"] for a in tutor["accounts"]} == {"business"}
    assert len({a["org_id"] for a in tutor["accounts"]}) == 1  # one verified organisation
    assert len({a["payment_fingerprint"] for a in tutor["accounts"]}) == 6
    assert max(len(r["messages"]) for r in tutor["rows"]) >= 4  # students follow up


@pytest.mark.parametrize("raw", [str(LATEST_GENERATOR + 1), "four"])
def test_a_bad_generator_value_is_one_line_from_the_cli(tmp_path: Path, raw: str):
    env = {**os.environ, GENERATOR_ENV: raw}
    argv = ["simulate", "--preset", "tiny", "--world", "random", "--out", str(tmp_path / "w")]
    proc = subprocess.run(
        [sys.executable, "-m", "distillguard", *argv], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and GENERATOR_ENV in lines[0], proc.stderr
    assert not (tmp_path / "w" / "requests.jsonl.gz").exists()


def test_the_personas_countries_are_the_simulator_s():
    from distillguard.sim.geo import COUNTRIES
    from distillguard.sim.personas import _TEACHER_COUNTRIES, _TUTOR_COUNTRIES

    assert set(_TEACHER_COUNTRIES + _TUTOR_COUNTRIES) <= {c.code for c in COUNTRIES}
