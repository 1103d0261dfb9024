"""Smoke test of ``bench-redteam``: a few hours of a tiny random world, small attackers."""

from __future__ import annotations

import pytest

from distillguard.bench.redteam import render_markdown, run_redteam
from distillguard.errors import InvalidParameterError


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("redteam")
    return run_redteam(
        size="tiny",
        seed=3,
        strategies=("naive", "rotating", "adaptive"),  # the patient ring needs days (below)
        answers=600,
        max_accounts=100,
        data_root=out / "worlds",
        out=out / "report",
        progress=False,
        hours=24,
    )


def by(report: dict, strategy: str, detector: str) -> dict:
    return next(
        r for r in report["results"] if r["strategy"] == strategy and r["detector"] == detector
    )


def test_without_a_detector_every_attacker_gets_its_answers_on_its_first_accounts(
    report: dict,
) -> None:
    for r in report["baseline"]:
        assert r["answers"] == 600 and r["degraded"] == 0 and r["accounts_denied"] == 0
        assert r["accounts"] == 20  # the accounts it starts with


def test_the_naive_attacker_never_opens_accounts_and_a_detector_costs_it_answers(
    report: dict,
) -> None:
    for detector in ("baseline", "distillguard"):
        r = by(report, "naive", detector)
        assert r["accounts"] == 20
        assert r["answers"] + r["degraded"] + r["throttled"] <= r["requests"]
        assert r["answers_before_first_denial"] <= r["answers"]


def test_the_linked_path_makes_the_rotating_attacker_pay_more_and_spares_benign(
    report: dict,
) -> None:
    """A day of a tiny world is too short for a slow adaptive attacker's evidence to add up
    (its own check below runs four days); a rotating one pays within hours, and the
    two-source rules act on fewer benign accounts than the per-account path."""
    before, after = by(report, "rotating", "baseline"), by(report, "rotating", "distillguard")
    assert after["cost_ratio"] > before["cost_ratio"]
    assert after["answers"] < before["answers"]
    for strategy in ("naive", "rotating", "adaptive"):
        before, after = by(report, strategy, "baseline"), by(report, strategy, "distillguard")
        assert after["benign_accounts_actioned"] <= before["benign_accounts_actioned"]


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The adaptive attacker alone, wanting the full bench's 3,000 answers over four days of
    the tiny world: long enough for its jobs to add up on its shared cards (~15 s)."""
    out = tmp_path_factory.mktemp("redteam-adaptive")
    return run_redteam(
        size="tiny",
        seed=3,
        strategies=("adaptive",),
        answers=3000,
        max_accounts=100,
        data_root=out / "worlds",
        progress=False,
        baseline=False,
        hours=96,
    )


def test_the_adaptive_attacker_needs_several_times_the_accounts_and_spares_benign(
    adaptive: dict,
) -> None:
    """Without a detector it gets every answer on its first 20 accounts. With one, it needs
    several times the accounts per 1,000 answers (a smoke floor of 5x, well under the full
    bench's >= 20x target, so the check is about the mechanism, not one world's figure), and
    no more than the issue's 0.5% of benign accounts see any action."""
    none, r = adaptive["baseline"][0], adaptive["results"][0]
    assert none["answers"] == 3000 and none["accounts"] == 20
    assert r["answers"] < none["answers"]
    assert r["accounts_per_1000"] >= 5 * none["accounts_per_1000"]
    assert r["benign_accounts_actioned"] <= 0.005 * r["benign_accounts"]
    assert r["benign_accounts_blocked"] == 0


def test_benign_collateral_is_measured_on_the_same_background(report: dict) -> None:
    rows = report["results"]
    assert len({r["benign_requests"] for r in rows}) == 1 and rows[0]["benign_requests"] > 0
    for r in rows:
        assert 0 <= r["benign_accounts_blocked"] <= r["benign_accounts_actioned"]
        assert r["benign_accounts_actioned"] <= r["benign_accounts"]


def test_the_report_is_written_as_json_and_markdown(report: dict) -> None:
    md = render_markdown(report)
    assert "| rotating | distillguard |" in md and "benign collateral" in md


def test_unknown_strategies_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="unknown strategy"):
        run_redteam(strategies=("sneaky",), progress=False)


def test_a_lone_harvester_is_held_to_the_deployments_heaviest_accounts(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """One account with its own card, address and client: no link to anyone. Without a
    detector it gets all its answers on that one account; with one, what it keeps harvesting
    above the deployment's heaviest accounts is degraded, it is never denied, and the heavy
    benign customers it is compared with are left alone. The ceiling needs a population
    (``job_min_accounts``); four days of the tiny world bring fewer accounts than the shipped
    200, so the check uses 50."""
    out = tmp_path_factory.mktemp("redteam-lone")
    policy = out / "policy.yaml"
    policy.write_text("linkage:\n  job_min_accounts: 50\n")
    got = run_redteam(
        size="tiny",
        seed=3,
        strategies=("lone",),
        answers=3000,
        policy=policy,
        data_root=out / "worlds",
        progress=False,
        baseline=False,
        hours=96,
    )
    none, r = got["baseline"][0], got["results"][0]
    assert none["accounts"] == 1 and none["degraded"] == 0
    assert r["accounts"] == 1 and r["accounts_denied"] == 0
    assert r["degraded"] > 0 and r["answers"] < none["answers"]
    assert r["benign_accounts_actioned"] <= 0.005 * r["benign_accounts"]
    assert r["benign_accounts_blocked"] == 0


def test_a_patient_ring_starts_under_the_floor_and_outlasts_its_memory(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The patient ring, against no detector (what it does, not what it gets): its accounts
    start at the body of benign account-windows, its pace rises day after day, and its harvest
    runs past the job floor's memory (``floor_memory_s``, three days)."""
    from distillguard.bench.redteam import run_strategy
    from distillguard.bench.redteam_gateway import Gateway, Outcome
    from distillguard.bench.redteam_world import HOUR_MS, load_world
    from distillguard.online.linkage import LinkSettings

    class Recorder(Gateway):
        def __init__(self) -> None:
            self.sent: list[tuple[int, str]] = []

        def decide(self, row: dict, features: dict | None) -> Outcome:
            if features is None and row.get("reasoning"):  # the attacker's harvest requests
                self.sent.append((row["ts"], row["account_id"]))
            return super().decide(row, features)

    world = load_world("tiny", 3, tmp_path_factory.mktemp("redteam-patient") / "worlds")
    gw = Recorder()
    r = run_strategy(world, "patient", gw, "none", 3000, 3, 100)
    start = world.t0 + world.attack_offset_ms
    window = LinkSettings().window_s * 1000

    def per_account_window(day: int) -> float:
        lo, hi = start + day * 24 * HOUR_MS, start + (day + 1) * 24 * HOUR_MS
        sent = [a for ts, a in gw.sent if lo <= ts < hi]
        return len(sent) / max(len(set(sent)), 1) / (24 * HOUR_MS / window)

    assert r.accounts_denied == 0 and r.degraded == 0
    assert per_account_window(0) <= 3.0  # about 1.5 a window: the body of benign accounts
    assert per_account_window(3) > 1.5 * per_account_window(0)
    memory_ms = LinkSettings().floor_memory_s * 1000
    assert max(ts for ts, _ in gw.sent) - start > memory_ms
