"""``bench-transfer`` on tiny random worlds: a smoke test of the protocol and the report's
structure (quality is measured by ``make bench``, not asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distillguard.bench.transfer import (
    DONE,
    HAND_SET,
    LEARNED,
    TransferConfig,
    check_config,
    ensure_world,
    is_done,
    mark_done,
    parse_worlds,
    run_transfer,
    world_name,
)
from distillguard.cli import main
from distillguard.errors import InvalidParameterError
from distillguard.sim.scenario import CAMPAIGN_TYPES
from distillguard.sim.world import GENERATOR_VERSION


@pytest.mark.parametrize(
    "text, seeds",
    [("1-3", [1, 2, 3]), ("5", [5]), ("1,3,5", [1, 3, 5]), ("101-102,110", [101, 102, 110])],
)
def test_parse_worlds(text, seeds):
    assert parse_worlds(text, "--test-worlds") == seeds


@pytest.mark.parametrize("text", ["", "a-b", "5-1", "-3", "1,,2"])
def test_parse_worlds_rejects(text):
    with pytest.raises(InvalidParameterError, match="--train-worlds must be seeds"):
        parse_worlds(text, "--train-worlds")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"size": "huge"}, "--size must be one of"),
        ({"test_worlds": [1]}, "train and test worlds must differ"),
        ({"holdout_kind": "phishing"}, "--holdout-kind must be one of"),
        ({"peers": ["oracle"]}, "unknown peer 'oracle'"),
    ],
)
def test_config_is_checked(change, message):
    cfg = TransferConfig(train_worlds=[1, 2], test_worlds=[3])
    for k, v in change.items():
        setattr(cfg, k, v)
    with pytest.raises(InvalidParameterError, match=message):
        check_config(cfg)


class _Captured(Exception):
    """Stops the CLI once it has built its config."""


@pytest.mark.parametrize(
    "cfg",
    [
        TransferConfig(
            size="tiny",
            train_worlds=[1, 2, 3],
            test_worlds=[101, 102],
            holdout_kind="careful",
            out=Path("o"),
            data_root=Path("d"),
            peers=[],
            label_budgets=(),
        ),
        TransferConfig(
            size="small",
            train_size="tiny",
            train_worlds=[1, 3],
            test_worlds=[105],
            out=Path("o 2"),
            peers=["rate_limit"],
            first_days=2.0,
            label_budgets=(10, 50),
        ),
        TransferConfig(train_worlds=[1, 2], test_worlds=[103]),
    ],
)
def test_the_reported_command_reruns_the_same_config(cfg, monkeypatch):
    """The report's command line, run again, gives back the same run: the data root, the
    chosen peers and an empty label budget (the CLI's default is 10,50,200) included."""
    import shlex

    import distillguard.bench.transfer as transfer

    seen = []

    def capture(c, progress=True):
        seen.append(c)
        raise _Captured

    monkeypatch.setattr(transfer, "run_transfer", capture)
    with pytest.raises(_Captured):
        main(shlex.split(cfg.command())[1:])
    assert seen == [cfg]


def test_cli_bad_argument_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench-transfer", "--size", "tiny", "--train-worlds", "x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--train-worlds must be seeds" in err[0]


@pytest.mark.slow
def test_transfer_end_to_end_on_tiny_worlds(tmp_path: Path):
    cfg = TransferConfig(
        size="tiny",
        train_worlds=[1, 2],
        test_worlds=[101],
        holdout_kind="shard",
        out=tmp_path / "t",
        peers=["rate_limit"],
    )
    result = run_transfer(cfg, progress=False)
    out = tmp_path / "t"
    for name in ("transfer.json", "transfer.md", "transfer.html", "risk-model.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "transfer.json").read_text())
    assert saved["command"].startswith("distillguard bench-transfer --size tiny")
    assert set(saved["test"]) == {LEARNED, HAND_SET, "rate_limit"}
    dg = saved["test"][LEARNED]
    assert dg["n_worlds"] == 1
    assert set(dg["kinds"]) == set(CAMPAIGN_TYPES)  # every kind is measured on test worlds
    # Leave-one-kind-out: the held-out kind never reached the train worlds.
    assert "shard" not in saved["in_world"][LEARNED]["kinds"]
    model = json.loads((out / "risk-model.json").read_text())
    trained = [world_name("tiny", s, "shard") for s in (1, 2)]
    assert sorted(model["trained_on"]) == trained
    # ... and on each train world's first two days, calibrated together with its world.
    assert f"{trained[0]}-first2d" in model["worlds"]
    md = (out / "transfer.md").read_text()
    assert "leave-one-kind-out: shard" in md and "(held out)" in md
    assert "labelling_vendor" in md or "leaderboard_operator" in md
    for key in ("recall_at_0.1%_fpr", "roc_auc", "kinds", "personas"):
        assert key in result["test"][HAND_SET]


def test_labelled_recall_scores_the_unlabelled_accounts_and_keeps_their_verdicts(
    tiny_findings, tiny_data, tmp_path
):
    """Operator labels in the bench: the top ``k`` leave the metrics, and the unlabelled
    attackers' share at `attack` after `learn` is reported beside the share before."""
    from distillguard.bench.transfer import export_model_inputs, labelled_recall
    from distillguard.scoring.model import BUILTIN

    root, _ = tiny_findings
    export_model_inputs(root / "store", tmp_path)
    got = labelled_recall(tmp_path, tiny_data, BUILTIN, 10)
    assert got["labels"] == 10
    assert 0.0 <= got["before"] <= 1.0 and 0.0 <= got["recall_at_fpr_0.1%"]["recall"] <= 1.0
    assert got["attack_share_before"] > 0.5
    assert got["attack_share"] >= got["attack_share_before"]


def test_tip_off_labels_half_a_campaign_of_the_held_out_kind_and_half_the_queue():
    """The tip-off scenario: k/2 accounts of one campaign (of the held-out kind when the world
    has one; never more than half the campaign, so some of it is left to find), the rest of
    the budget from the top of the queue; the same picks on every call."""
    from distillguard.bench.transfer import QUEUE, TIP, pick_labelled

    n = 40
    before = np.linspace(1.0, 0.0, n)  # row 0 tops the queue
    y = np.zeros(n, int)
    campaign = np.full(n, "", object)
    kind = np.full(n, "", object)
    y[:10], campaign[:10], kind[:10] = 1, "hy-01", "hydra"  # the top of the queue
    y[30:36], campaign[30:36], kind[30:36] = 1, "ca-02", "careful"  # ranked low
    picked, tipped = pick_labelled(before, y, campaign, kind, 10, TIP, "careful")
    assert list(tipped) == list(range(30, 36))
    from_tip = [i for i in picked if campaign[i] == "ca-02"]
    assert len(from_tip) == 3 and len(picked) == 10 == len(set(picked))
    assert sorted(set(picked) - set(from_tip)) == list(range(7))
    again, _ = pick_labelled(before, y, campaign, kind, 10, TIP, "careful")
    assert list(again) == list(picked)
    # No held-out kind: a campaign of two accounts or more, drawn at random; 1 of a pair.
    _, tipped = pick_labelled(before, y, campaign, kind, 10, TIP)
    assert set(campaign[tipped]) in ({"hy-01"}, {"ca-02"})
    campaign[31:36] = ["x1", "x2", "x3", "x4", "x5"]  # no careful campaign of two: another
    picked, tipped = pick_labelled(before, y, campaign, kind, 4, TIP, "careful")
    assert list(tipped) == list(range(10)) and len(set(picked)) == 4
    assert list(pick_labelled(before, y, campaign, kind, 4, QUEUE)[0]) == [0, 1, 2, 3]
    assert len(pick_labelled(before, y, campaign, kind, 0, TIP)[0]) == 0


def test_labelled_recall_tip_off_reports_the_rest_of_the_campaign_and_every_kind(
    tiny_findings, tiny_data, tmp_path
):
    """Both label scenarios on the tiny world, aggregated and rendered: the tip-off row says
    how much of the tipped campaign's unlabelled rest is found, before and after."""
    from distillguard.bench.transfer import (
        QUEUE,
        TIP,
        _label_lines,
        aggregate,
        export_model_inputs,
        label_row,
        labelled_recall,
    )
    from distillguard.scoring.model import BUILTIN

    root, _ = tiny_findings
    export_model_inputs(root / "store", tmp_path)
    rows = {}
    for scenario in (QUEUE, TIP):
        got = labelled_recall(tmp_path, tiny_data, BUILTIN, 10, scenario)
        assert got["scenario"] == scenario and got["label_kinds"]
        assert all(k["n"] >= k["found"] >= 0 for k in got["label_kinds"].values())
        assert sum(b for b, _ in got["benign_at_attack"].values()) == 0
        # the review cap: labels put no unlabelled account at attack the model did not
        assert all(a <= b for b, a in got["benign_at_attack"].values())
        assert len(got["held_at_review"]) == 2 and min(got["held_at_review"]) >= 0
        rows[label_row(10, scenario)] = aggregate([got])
    tip = rows[label_row(10, TIP)]["tipped"]
    assert tip["n"] >= 1 and 0 <= tip["found_before"] <= tip["n"]
    md = "\n".join(_label_lines({"holdout_kind": None, "test": rows}))
    assert "scenario `queue`" in md and "scenario `tip-off`" in md
    assert "rest of the tipped campaign found" in md
    assert "held at `review` by the cap" in md


def test_worlds_are_named_and_marked_by_their_generator(tmp_path: Path):
    """Cached worlds of two generators never mix: the folder name and the done-marker carry
    the generator version; generator 1's folders (no ``-g``, a bare time in the marker) are
    never taken for this generator's."""
    assert world_name("small", 3) == f"small-w3-g{GENERATOR_VERSION}"
    assert world_name("tiny", 1, "shard") == f"tiny-w1-g{GENERATOR_VERSION}-no-shard"
    old = tmp_path / world_name("tiny", 1)
    old.mkdir()
    (old / DONE).write_text("2026-12-07T17:00:28Z")  # what generator 1 wrote
    assert not is_done(old)
    (old / DONE).write_text(f"generator {GENERATOR_VERSION - 1} 2026-12-07T17:00:28Z")
    assert not is_done(old)
    mark_done(old)
    assert is_done(old)


def test_a_done_world_is_reused_and_an_old_one_redrawn(tmp_path: Path, monkeypatch):
    drawn = []

    def fake_simulate(scenario, out, seed, progress):
        drawn.append((scenario.name, Path(out).name))

    monkeypatch.setattr("distillguard.sim.simulate", fake_simulate)
    done = tmp_path / world_name("tiny", 1)
    done.mkdir()
    mark_done(done)
    assert ensure_world(tmp_path, "tiny", 1) == done and drawn == []
    stale = tmp_path / world_name("tiny", 2)
    stale.mkdir()
    (stale / DONE).write_text("2026-12-07T17:00:28Z")
    assert ensure_world(tmp_path, "tiny", 2) == stale
    assert drawn == [("random-tiny-2", stale.name)] and is_done(stale)
