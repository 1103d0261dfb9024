"""``bench-transfer`` on tiny random worlds: a smoke test of the protocol and the report's
structure (quality is measured by ``make bench``, not asserted here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillguard.bench.transfer import (
    HAND_SET,
    LEARNED,
    TransferConfig,
    check_config,
    parse_worlds,
    run_transfer,
)
from distillguard.cli import main
from distillguard.errors import InvalidParameterError
from distillguard.sim.scenario import CAMPAIGN_TYPES


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
    assert sorted(model["trained_on"]) == ["tiny-w1-no-shard", "tiny-w2-no-shard"]
    # ... and on each train world's first two days, calibrated together with its world.
    assert "tiny-w1-no-shard-first2d" in model["worlds"]
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
