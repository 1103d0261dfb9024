"""Generator 2 (issue 11): a random world's university class coordinates as tightly or as
loosely as real classes do (``CLASS_TACTICS``, drawn per world from ``priors.yaml``), so a
model trained on random worlds has seen honest groups as tight as campaigns."""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from distillguard.errors import ScenarioError
from distillguard.sim import simulate
from distillguard.sim.scenario import CLASS_TACTICS, Scenario, load_scenario
from distillguard.sim.world import Priors, draw_scenario

TIGHT = {
    "class_share": 0.95,
    "meeting_days": 1,
    "campus_share": 1.0,
    "campus_nat": True,
    "lab_browser": 1.0,
    "items_per_week": 1,
    "set_share": 1.0,
    "wordings": 1,
    "signup_wave_days": 0.5,
    "signup_lag_days": 5.0,
    "dept_card": True,
}


def _class_tactics(size: str, seed: int) -> dict | None:
    spec = draw_scenario(size, seed).hard_benign.get("university_class")
    return spec.tactics if spec else None


def test_random_classes_span_loose_to_tight():
    drawn = [t for s in range(40) if (t := _class_tactics("small", s))]
    assert set(drawn[0]) == set(CLASS_TACTICS)
    assert min(t["class_share"] for t in drawn) < 0.3 < 0.8 < max(t["class_share"] for t in drawn)
    assert min(t["wordings"] for t in drawn) == 1 and max(t["wordings"] for t in drawn) >= 8
    assert (
        min(t["signup_wave_days"] for t in drawn)
        < 2
        < 30
        < max(t["signup_wave_days"] for t in drawn)
    )
    for flag in ("campus_nat", "dept_card"):
        assert {t[flag] for t in drawn} == {True, False}
    # tiny and small worlds of one seed share their main stream, not their class
    assert _class_tactics("tiny", 1) != _class_tactics("small", 1)


def test_class_tactics_move_nothing_else_in_the_world():
    data = copy.deepcopy(Priors.load().data)
    del data["hard_benign"]["university_class"]["tactics"]
    for seed in (1, 5):
        new = draw_scenario("small", seed).to_dict()
        old = draw_scenario("small", seed, Priors(data)).to_dict()
        assert new["hard_benign"]["university_class"].pop("tactics")
        assert new == old


def test_presets_keep_generator_one_class():
    sc = Scenario.from_dict(draw_scenario("tiny", 2).to_dict())
    assert sc.hard_benign["university_class"].tactics is not None
    for name in ("tiny", "small"):
        preset = load_scenario(name)
        assert "university_class" in preset.hard_benign
        assert preset.hard_benign["university_class"].tactics is None
        assert "tactics" not in preset.to_dict()["hard_benign"]["university_class"]


@pytest.mark.parametrize(
    "tactics, message",
    [
        ({"class_share": 1.5}, "class_share"),
        ({"meeting_days": 0}, "meeting_days"),
        ({"campus_nat": 1}, "campus_nat"),
        ({"lecture_hall": 0.3}, "lecture_hall"),
    ],
)
def test_bad_class_tactics_are_named(tactics, message):
    data = draw_scenario("tiny", 2).to_dict()
    data["hard_benign"]["university_class"]["tactics"] = tactics
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict(data)


def test_tactics_belong_to_the_class_only():
    data = draw_scenario("tiny", 2).to_dict()
    persona = next(p for p in data["hard_benign"] if p != "university_class")
    data["hard_benign"][persona]["tactics"] = {}
    with pytest.raises(ScenarioError, match="only known for university_class"):
        Scenario.from_dict(data)


def _class_traffic(tmp_path: Path, readers, tactics: dict) -> tuple[list[dict], list[dict]]:
    read_log, read_csv = readers
    data = draw_scenario("tiny", 2).to_dict()
    data["hard_benign"]["university_class"].update(accounts=12, requests=240, tactics=tactics)
    simulate(Scenario.from_dict(data), out=tmp_path, seed=2, progress=False)
    ids = {
        r["account_id"]
        for r in read_csv(tmp_path / "labels.csv")
        if r["persona"] == "university_class"
    }
    accounts = [a for a in read_csv(tmp_path / "accounts.csv") if a["account_id"] in ids]
    rows = [r for r in read_log(tmp_path / "requests.jsonl.gz") if r["account_id"] in ids]
    return accounts, rows


def test_a_tight_class_shares_one_nat_browser_card_and_signup_wave(tmp_path: Path, readers):
    accounts, rows = _class_traffic(tmp_path, readers, TIGHT)
    assert len(accounts) == 12
    cards = {a["payment_fingerprint"] for a in accounts}
    assert len(cards) == 1 and cards != {""}  # the department's card
    created = sorted(dt.datetime.fromisoformat(a["created_at"]) for a in accounts)
    assert created[-1] - created[0] <= dt.timedelta(days=0.5)
    assert len({r["ip"] for r in rows}) == 1  # every session on campus, behind one NAT
    top_ua = Counter(r["user_agent"] for r in rows).most_common(1)[0][1]
    assert top_ua >= 0.8 * len(rows)  # the lab's browser


def test_the_default_class_stays_loose(tmp_path: Path, readers):
    defaults = {k: v[0] for k, v in CLASS_TACTICS.items()}
    accounts, rows = _class_traffic(tmp_path, readers, defaults)
    assert {a["payment_fingerprint"] for a in accounts} == {""}
    assert len({r["ip"] for r in rows}) > 12  # a host each on campus, home addresses
    assert len({r["user_agent"] for r in rows}) > 3
