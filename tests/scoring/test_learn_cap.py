"""The review cap on operator labels: labels may raise an account to `review`, never to
`attack` on their own; an account labelled attack is at `attack` by its label; batch and
online read the same capped risk."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow as pa
import pytest

from distillguard.scoring.compiled import CompiledRiskModel
from distillguard.scoring.label_cap import RAISED_TO_REVIEW, label_capped
from distillguard.scoring.model import LearnedAccountScorer, resolve

LINE = 0.9


@pytest.fixture(scope="module")
def adapted():
    """The shipped model adapted to 21 positive labels, 20 at mid risk (a tip-off's campaign
    the model ranks low): the fit shifts every account and lifts unlabelled ones past the line."""
    builtin = resolve("builtin")
    if builtin is None:
        pytest.skip("no shipped risk model in this tree (run `distillguard train`)")
    rng = np.random.default_rng(1)
    X = rng.random((400, len(builtin.names_)))
    X[rng.random(X.shape) < 0.25] = np.nan
    labels = np.full(400, -1)
    order = np.argsort(builtin.predict_risk(X))
    labels[order[200:220]] = 1
    labels[order[0]] = 1  # one the model ranks lowest: the adapter will not lift it
    model = copy.deepcopy(builtin).adapt(X, labels)
    ids = [f"acct-{i:03d}" for i in range(400)]
    model.manifest_ = {
        **model.manifest_,
        "adapted_on": {"attack_accounts": [ids[i] for i in np.flatnonzero(labels == 1)]},
    }
    return model, X, labels, ids


def test_the_cap_holds_a_raise_at_review_and_keeps_what_the_model_said():
    adapted = np.array([0.95, 0.95, 0.70, 0.80, 0.30])
    unadapted = np.array([0.80, 0.92, 0.95, 0.60, 0.20])
    labelled = np.array([False, False, False, False, True])
    risk = label_capped(adapted, unadapted, LINE, labelled)
    assert risk[0] < LINE and risk[0] > 0.8999  # raised past the line by labels: review
    assert risk[1] == 0.95  # the model already said attack: the adapter's risk stands
    assert risk[2] == 0.70  # labels may lower an attack
    assert risk[3] == 0.80  # a raise below the line is untouched
    assert risk[4] == LINE  # labelled attack: at attack by its label


def test_an_honest_account_the_adapter_lifts_past_the_line_stays_at_review(adapted):
    model, X, labels, ids = adapted
    inputs = pa.table({"account_id": ids, **{n: X[:, j] for j, n in enumerate(model.names_)}})
    sc = LearnedAccountScorer(model, 0.5, LINE).fit(inputs)
    raised = (model.predict_risk(X) >= LINE) & (sc.unadapted_risk_ < LINE) & (labels == -1)
    assert raised.sum() >= 3  # the fixture does lift unlabelled accounts past the line
    assert (sc.verdict_[raised] == "review").all()
    assert sc.label_capped_[raised].all() and not sc.label_capped_[~raised & (labels == -1)].any()
    assert all(t.startswith(RAISED_TO_REVIEW) for t in sc.label_text_[raised])
    assert (sc.contributions_["operator_labels"][raised] > 0.05).all()
    # No unlabelled account is at attack unless the un-adapted model put it there.
    unlabelled_attack = (sc.verdict_ == "attack") & (labels == -1)
    assert (sc.unadapted_risk_[unlabelled_attack] >= LINE).all()


def test_an_account_labelled_attack_is_at_attack_by_its_label(adapted):
    model, X, labels, ids = adapted
    inputs = pa.table({"account_id": ids, **{n: X[:, j] for j, n in enumerate(model.names_)}})
    sc = LearnedAccountScorer(model, 0.5, LINE).fit(inputs)
    mine = labels == 1
    assert (model.predict_risk(X)[mine] < LINE).any()  # the adapter alone leaves some below
    assert (sc.verdict_[mine] == "attack").all()
    assert (sc.label_text_[mine] == "labelled attack by the operator").all()


def test_online_and_batch_read_the_same_capped_risk(adapted):
    model, X, labels, ids = adapted
    fast = CompiledRiskModel(model)
    for rows in (np.arange(400), np.flatnonzero(labels == 1)):
        want = model.verdict_risk(X[rows], LINE, [ids[i] for i in rows])
        got = fast.verdict_risk(X[rows], LINE, [ids[i] for i in rows])
        for w, g in zip(want, got, strict=True):
            assert np.allclose(g, w, atol=1e-12)
    risk = fast.verdict_risk(X, LINE, ids)[0]
    assert ((risk >= LINE) == (model.verdict_risk(X, LINE, ids)[0] >= LINE)).all()


def test_an_unadapted_model_reads_its_calibrated_risk():
    builtin = resolve("builtin")
    if builtin is None:
        pytest.skip("no shipped risk model in this tree")
    X = np.random.default_rng(2).random((50, len(builtin.names_)))
    risk, adapted, unadapted = builtin.verdict_risk(X, LINE, None)
    assert np.array_equal(risk, builtin.predict_risk(X)) and np.array_equal(risk, unadapted)
    assert np.allclose(CompiledRiskModel(builtin).verdict_risk(X, LINE)[0], risk, atol=1e-12)


def test_analyze_reasons_say_what_the_labels_did(lt, tmp_path):
    """The whole batch pipeline with an adapted model: an account the cap held at review reads
    "raised by operator labels to review" first; one labelled attack is at attack by label."""
    builtin = resolve("builtin")
    if builtin is None:
        pytest.skip("no shipped risk model in this tree")
    _, engine, _ = lt.analyzed(0, risk_model="builtin")
    inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
    ids = inputs.column("account_id").to_pylist()
    from distillguard.scoring.model import align

    X = align(inputs, builtin.names_)
    base = builtin.predict_risk(X)
    labels = np.full(len(ids), -1)
    labels[np.argsort(base)[:2]] = 1  # two the model ranks lowest, labelled attack
    model = copy.deepcopy(builtin).adapt(X, labels)
    # The shift a tip-off's positive-only labels give every account, made large.
    model.adapter_.intercept_ = model.adapter_.intercept_ + 6.0
    mine = [ids[i] for i in np.flatnonzero(labels == 1)]
    path = model.save(tmp_path / "risk-model.json", {"adapted_on": {"attack_accounts": mine}})
    _, adapted_engine, _ = lt.analyzed(0, risk_model=str(path))
    out = {
        r["account_id"]: r
        for r in adapted_engine.fetch_arrow(
            "SELECT account_id, risk, verdict, reasons FROM out_accounts"
        ).to_pylist()
    }
    for a in mine:
        assert out[a]["verdict"] == "attack"
        assert out[a]["reasons"].startswith("labelled attack by the operator")
    held = [a for a, r in out.items() if r["reasons"].startswith(RAISED_TO_REVIEW)]
    assert held and all(out[a]["verdict"] == "review" for a in held)
    unadapted = dict(zip(ids, base, strict=True))
    at_attack = [a for a, r in out.items() if r["verdict"] == "attack" and a not in mine]
    # every other account at attack: the model without labels said so, or a link raised it
    # to the line exactly (scoring.analyze.inherit_attack)
    assert all(unadapted[a] >= LINE or out[a]["risk"] == pytest.approx(LINE) for a in at_attack)


def test_learn_changes_list_held_accounts_below_the_line(tmp_path):
    """learn-changes.csv lists an account the cap held even though its verdict did not move,
    and its risk reads below the line (0.8999, never 0.9000)."""
    import csv

    from distillguard.scoring.learn import write_changes

    before, adapted = np.array([0.80, 0.40, 0.95]), np.array([0.97, 0.45, 0.96])
    after = label_capped(adapted, before, LINE)
    held = np.where((adapted >= LINE) & (after < LINE), RAISED_TO_REVIEW, "")
    parts = {"risk_adapted": adapted, "capped": held}
    counts = write_changes(
        tmp_path / "c.csv", ["a", "b", "c"], np.full(3, -1), before, after, (0.5, LINE), parts
    )
    with open(tmp_path / "c.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["account_id"] for r in rows] == ["a"]
    assert rows[0]["risk_after"] == "0.8999" and rows[0]["risk_adapted"] == "0.9700"
    assert rows[0]["verdict_after"] == "review" and rows[0]["capped"] == RAISED_TO_REVIEW
    assert counts == {"newly_attack": 0, "left_attack": 0, "verdicts_moved": 0}
