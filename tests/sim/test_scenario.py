"""Scenario validation and the ``simulate`` command's error handling."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from distillguard.cli import main
from distillguard.errors import InvalidParameterError, ScenarioError
from distillguard.sim import PRESETS, load_scenario, simulate
from distillguard.sim.scenario import CAMPAIGN_TYPES, HARD_BENIGN_PERSONAS, PRESET_DIR

BASE = yaml.safe_load((PRESET_DIR / "tiny.yaml").read_text())


def _with(path: str, value):
    data = copy.deepcopy(BASE)
    keys = path.split(".")
    node = data
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()

BAD = [
    ("benign.accounts", -5, "benign.accounts must be an integer >= 0"),
    ("benign.requests_sigma", "wide", "benign.requests_sigma must be a number"),
    ("benign.colour", "red", "unknown key 'colour'"),
    ("period.days", 0, "period.days must be a number > 0"),
    ("period.start", "next tuesday", "period.start must be an ISO 8601 time"),
    ("models", [], "models must be a non-empty list"),
    ("models.3.released_day", 99, "models[3].released_day"),
    ("campaigns.0.type", "ddos", "campaigns[0].type must be one of"),
    ("campaigns.0.accounts", 0, "campaigns[0].accounts must be an integer >= 1"),
    ("campaigns.1.requests", 2, "campaigns[1].requests must be at least accounts"),
    ("campaigns.2.languages", ["klingon"], "campaigns[2].languages must be one of"),
    ("campaigns.2.tactics", {"pivot_share": 1.5}, "campaigns[2].tactics.pivot_share"),
    (
        "campaigns.2.tactics",
        {"routes": ["carrier-pigeon"]},
        "direct, cloud:<platform> or reseller:<name>",
    ),
    ("campaigns.2.tactics", {"magic": True}, "unknown key 'magic'"),
    ("campaigns.1.id", "rh-01", "repeats the campaign id"),
    ("hard_benign.eval_runner", {"accounts": 2}, "missing the required key 'requests'"),
    ("hard_benign.astronaut", {"accounts": 1, "requests": 5}, "unknown key 'astronaut'"),
    ("period", _DELETE, "missing the required key 'period'"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[b[0] + ":" + str(b[1])[:12] for b in BAD])
def test_bad_scenarios_raise_clear_errors(path, value, message):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_with(path, value))
    assert message in str(exc.value)


def test_presets_load_and_have_the_promised_sizes():
    sizes = {}
    for name in PRESETS:
        sc = load_scenario(name)
        assert sc.new_model is not None and 0 < sc.new_model.released_day < sc.days
        assert {c.type for c in sc.campaigns} >= {
            "reasoning_harvest",
            "agentic_harvest",
            "hydra",
            "careful",
        }
        assert len(sc.hard_benign) >= 5
        sizes[name] = sc.planned_requests()
    # tiny is the test preset: every campaign kind and persona at toy scale.
    tiny = load_scenario("tiny")
    assert {c.type for c in tiny.campaigns} == set(CAMPAIGN_TYPES)
    assert set(tiny.hard_benign) == set(HARD_BENIGN_PERSONAS)
    assert 4_000 <= sizes["tiny"] <= 7_000
    assert 40_000 <= sizes["small"] <= 65_000
    assert 400_000 <= sizes["medium"] <= 650_000
    assert sizes["large"] >= 5_000_000
    medium = load_scenario("medium")
    assert medium.benign.accounts >= 6_000
    assert max(c.accounts for c in medium.campaigns if c.type == "hydra") >= 2_000
    assert max(c.accounts for c in load_scenario("large").campaigns if c.type == "hydra") >= 20_000


def test_scenario_round_trips_through_yaml(tmp_path: Path):
    sc = load_scenario("small")
    path = tmp_path / "s.yaml"
    path.write_text(sc.to_yaml())
    again = load_scenario(path)
    assert again.to_dict() == sc.to_dict()


def test_bad_arguments(tmp_path: Path):
    with pytest.raises(ScenarioError, match="unknown preset 'huge'"):
        simulate("huge", out=tmp_path)
    with pytest.raises(ScenarioError, match="not found"):
        simulate(tmp_path / "missing.yaml", out=tmp_path)
    with pytest.raises(InvalidParameterError, match="seed must be an integer >= 0"):
        simulate("tiny", out=tmp_path, seed=-1)
    with pytest.raises(InvalidParameterError, match="fmt must be one of"):
        simulate("tiny", out=tmp_path, fmt="xml")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidParameterError, match="must be a directory"):
        simulate("tiny", out=tmp_path / "afile")


@pytest.mark.parametrize(
    "args,message",
    [
        (["simulate", "--preset", "enormous"], "unknown preset 'enormous'"),
        (["simulate"], "exactly one of --preset NAME or --scenario FILE"),
        (["simulate", "--preset", "tiny", "--format", "xml"], "fmt must be one of"),
        (["simulate", "--scenario", "BADYAML"], "not valid YAML (line"),
    ],
)
def test_cli_errors_are_one_line_exit_2(args, message, tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("period: {start: 2026-01-01, days: 3\n")
    args = [str(bad) if a == "BADYAML" else a for a in args] + [
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
    ]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def _variant(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


EDGE = {
    "no campaigns": _variant(campaigns=[]),
    "no new model": _variant(models=BASE["models"][:3]),
    "half a weekend day": _variant(
        period={"start": "2026-03-07T00:00:00Z", "days": 0.5},
        models=[{"name": "m1"}, {"name": "m2", "released_day": 0.2}],
    ),
    "one-account campaigns": _variant(
        campaigns=[dict(c, accounts=1, requests=1) for c in BASE["campaigns"]]
    ),
    "campaigns at the very end": _variant(
        campaigns=[
            dict(BASE["campaigns"][2], start_day=6.5),
            dict(BASE["campaigns"][0], start_day=6.9, end_day=7),
        ]
    ),
}


@pytest.mark.parametrize("name", list(EDGE))
def test_edge_scenarios_run_and_stay_in_the_period(name, tmp_path: Path):
    import datetime as dt
    import gzip
    import json

    sc = load_scenario(EDGE[name])
    s = simulate(sc, out=tmp_path, seed=2, progress=False)
    assert s["requests"] > 0
    lo = sc.start
    hi = sc.start + dt.timedelta(days=sc.days, hours=2)  # sessions may run a little past the end
    with gzip.open(tmp_path / "requests.jsonl.gz", "rt") as fh:
        ts = [dt.datetime.fromisoformat(json.loads(line)["ts"]) for line in fh]
    assert len(ts) == s["requests"] and lo <= min(ts) and max(ts) <= hi
    expected_attack = sum(c.accounts for c in sc.campaigns)
    assert s["attack_accounts"] == expected_attack
