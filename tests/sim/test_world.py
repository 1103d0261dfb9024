"""Random worlds (``--world random``): different per seed, contract-valid, realistic, and
without any single field that separates attackers from benign accounts."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from distillguard.cli import main
from distillguard.errors import ScenarioError
from distillguard.sim import simulate
from distillguard.sim.scenario import CAMPAIGN_TYPES, Scenario
from distillguard.sim.world import PRIORS_FILE, Priors, draw_scenario, sample

SEEDS = (11, 12)
ORDINARY = ("casual", "developer", "student")


@pytest.fixture(scope="module", params=SEEDS)
def world(request, tmp_path_factory, readers) -> dict:
    read_log, read_csv = readers
    seed = request.param
    out = tmp_path_factory.mktemp(f"world{seed}")
    summary = simulate(draw_scenario("tiny", seed), out=out, seed=seed, progress=False)
    labels = {r["account_id"]: r for r in read_csv(out / "labels.csv")}
    records = read_log(out / "requests.jsonl.gz")
    req = {r["request_id"]: r["is_attack"] == "1" for r in read_csv(out / "request_labels.csv")}
    for r in records:
        r["_persona"] = labels[r["account_id"]]["persona"]
        r["_attack"] = req[r["request_id"]]
    return {
        "seed": seed,
        "dir": out,
        "summary": summary,
        "labels": labels,
        "records": records,
        "accounts": {a["account_id"]: a for a in read_csv(out / "accounts.csv")},
    }


def test_two_seeds_draw_visibly_different_worlds():
    a, b = draw_scenario("small", 1), draw_scenario("small", 2)
    assert a.benign.accounts != b.benign.accounts
    assert a.benign.mix != b.benign.mix
    assert a.world.attack_routes != b.world.attack_routes
    assert [c.tactics for c in a.campaigns] != [c.tactics for c in b.campaigns]
    assert a.days != b.days or a.start != b.start
    # Same seed, same world; and every campaign kind is in every world.
    assert draw_scenario("small", 1).to_dict() == a.to_dict()
    assert {c.type for c in a.campaigns} == set(CAMPAIGN_TYPES)


def test_worlds_use_different_wordings(tmp_path: Path, readers):
    """The grammar draws new wordings per world: two worlds share few first prompt lines."""
    read_log, read_csv = readers

    def openers(seed: int) -> set[str]:
        out = tmp_path / f"w{seed}"
        simulate(draw_scenario("tiny", seed), out=out, seed=seed, progress=False)
        rows = read_log(out / "requests.jsonl.gz")
        lab = {r["account_id"]: r for r in read_csv(out / "labels.csv")}
        return {
            r["messages"][-1]["content"].splitlines()[0][:40]
            for r in rows
            if lab[r["account_id"]]["is_attack"] == "1"
            and isinstance(r["messages"][-1]["content"], str)
        }

    a, b = openers(21), openers(22)
    assert len(a & b) < 0.2 * min(len(a), len(b)), (len(a & b), len(a), len(b))


def test_every_record_is_contract_valid(world, contract_problems):
    bad = [
        (r["request_id"], p)
        for r in world["records"]
        for p in contract_problems({k: v for k, v in r.items() if not k.startswith("_")})
    ]
    assert not bad, bad[:5]
    assert set(world["accounts"]) == {r["account_id"] for r in world["records"]}


def test_labels_are_consistent(world):
    attack_req = Counter(r["account_id"] for r in world["records"] if r["_attack"])
    for acc, lab in world["labels"].items():
        assert (lab["is_attack"] == "1") == (attack_req[acc] > 0), acc
        assert (lab["persona"] in CAMPAIGN_TYPES) == (lab["is_attack"] == "1"), acc
    kinds = {lab["persona"] for lab in world["labels"].values() if lab["is_attack"] == "1"}
    assert kinds == set(CAMPAIGN_TYPES)


def test_benign_activity_is_heavy_tailed(world):
    counts = Counter(r["account_id"] for r in world["records"] if r["_persona"] in ORDINARY)
    n = np.sort(np.array(list(counts.values())))[::-1]
    top = n[: max(1, len(n) // 10)].sum() / n.sum()
    assert top >= 0.35, top
    assert n.max() >= 8 * np.median(n)


def test_diurnal_cycle(world):
    """Benign traffic has a daily cycle (shifted per world), far from uniform over the hours."""
    hours = np.zeros(24)
    for r in world["records"]:
        if r["_persona"] in ORDINARY and r.get("country") == "US":
            hours[dt.datetime.fromisoformat(r["ts"]).hour] += 1
    assert hours.sum() > 100
    smooth = np.convolve(np.r_[hours, hours[:2]], np.ones(3) / 3, "valid")
    assert smooth.max() > 2.5 * max(smooth.min(), 1), hours


def _account_fields(world: dict) -> dict[str, dict[str, float]]:
    """Per account, fields a naive rule could use directly from the log and account table."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for r in world["records"]:
        rows[r["account_id"]].append(r)
    out = {}
    for acc, rs in rows.items():
        prompt = [len(str(r["messages"][-1].get("content", ""))) for r in rs]
        out[acc] = {
            "requests": len(rs),
            "ips": len({r.get("ip") for r in rs}) / len(rs),
            "user_agents": len({r.get("user_agent") for r in rs}),
            "prompt_chars": float(np.mean(prompt)),
            "models": len({r["model"] for r in rs}),
            "turns": float(np.mean([len(r["messages"]) for r in rs])),
        }
    return out


def test_no_single_field_separates_attackers(world):
    fields = _account_fields(world)
    ids = sorted(fields)
    y = np.array([world["labels"][a]["is_attack"] == "1" for a in ids])
    for name in next(iter(fields.values())):
        x = np.array([fields[a][name] for a in ids])
        auc = roc_auc_score(y, x)
        assert max(auc, 1 - auc) < 0.97, (name, auc)
    for col in ("signup_route", "verification", "country", "email_domain"):
        by = defaultdict(list)
        for a in ids:
            by[world["accounts"][a][col]].append(world["labels"][a]["is_attack"] == "1")
        for value, flags in by.items():
            # No value is both attacker-only and where most attackers are.
            covers = sum(flags) / y.sum()
            assert not (np.mean(flags) > 0.99 and covers > 0.5), (col, value, covers)


def test_priors_are_validated(tmp_path: Path):
    data = yaml.safe_load(PRIORS_FILE.read_text())
    data["benign"]["vpn_share"] = {"log": [0, 1]}
    path = tmp_path / "priors.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match="benign.vpn_share has a malformed 'log'"):
        Priors.load(path)
    data["benign"]["vpn_share"] = [0.5, 0.1]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"benign.vpn_share must be \[lo, hi\]"):
        Priors.load(path)


@pytest.mark.parametrize(
    "spec, check",
    [
        ([1.0, 2.0], lambda v: 1.0 <= v <= 2.0),
        ({"log": [1.0, 100.0]}, lambda v: 1.0 <= v <= 100.0),
        ({"int": [3, 5]}, lambda v: v in (3, 4, 5)),
        ({"choice": {"a": 1, "b": 0}}, lambda v: v == "a"),
        ({"dirichlet": {"a": 1, "b": 1}}, lambda v: abs(sum(v.values()) - 1) < 1e-3),
        ({"bernoulli": 1.0}, lambda v: v is True),
        (7, lambda v: v == 7),
    ],
)
def test_prior_forms(spec, check):
    rng = np.random.default_rng(0)
    assert all(check(sample(spec, rng)) for _ in range(20))


def test_cli_random_world(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--preset", "tiny", "--world", "fantasy", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "--world must be preset or random" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "simulate",
                "--preset",
                "tiny",
                "--world",
                "random",
                "--seed",
                "5",
                "--out",
                str(tmp_path / "w"),
                "--no-progress",
            ]
        )
    assert exc.value.code in (0, None)
    text = (tmp_path / "w" / "scenario.yaml").read_text()
    assert "random-tiny-5" in text and "grammar_seed: 5" in text


def _careful_tactics(seed: int) -> dict:
    return next(c.tactics for c in draw_scenario("tiny", seed).campaigns if c.type == "careful")


def test_careful_campaigns_vary_their_incidental_traits():
    """Issue 11: a careful campaign's egress, browsers, hours and CoT share vary per world, so
    some look like ordinary users on everything but their shared wordings; what defines the
    kind (human timing, unshared cards) stays fixed."""
    drawn = [_careful_tactics(s) for s in range(40)]
    assert {t["proxy"] for t in drawn} == {"home", "stable"}
    assert {t["user_agents"] for t in drawn} == {"one_browser", "browser"}
    assert {t["local_hours"] for t in drawn} == {True, False}
    assert min(t["cot"] for t in drawn) < 0.1
    assert all(t["timing"] == "human" and t["payment_sharing"] == 1.0 for t in drawn)


def test_a_careful_campaign_on_one_home_line_keeps_one_address_and_one_browser(
    tmp_path: Path, readers
):
    read_log, read_csv = readers
    data = draw_scenario("tiny", 11).to_dict()
    for c in data["campaigns"]:
        if c["type"] == "careful":
            c["tactics"].update(proxy="home", user_agents="one_browser", local_hours=True)
    simulate(Scenario.from_dict(data), out=tmp_path, seed=11, progress=False)
    kinds = {c["id"]: c["type"] for c in data["campaigns"]}
    careful = {
        r["account_id"]
        for r in read_csv(tmp_path / "labels.csv")
        if kinds.get(r["campaign_id"]) == "careful"
    }
    seen: dict[str, set] = defaultdict(set)
    for r in read_log(tmp_path / "requests.jsonl.gz"):
        if r["account_id"] in careful:
            seen[r["account_id"]].add((r["ip"], r["user_agent"]))
    assert len(seen) == len(careful) >= 2
    assert all(len(pairs) == 1 for pairs in seen.values())  # no mobile churn, no second client
