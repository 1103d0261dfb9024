"""The learned request model: inputs relative to the account, a fit on some labelled worlds,
and the harvest requests of mixed accounts marked in a world it never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import InvalidInputError
from distillguard.policy import Policy
from distillguard.scoring.model import align
from distillguard.scoring.request_model import (
    BUILTIN,
    INPUT_NAMES,
    RequestModel,
    resolve,
)


def _inputs(engine) -> pa.Table:
    return engine.fetch_arrow("SELECT * FROM request_inputs ORDER BY request_id")


def _campaign_requests(traffic, engine) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of the campaign accounts' requests, labelled harvest (1) or genuine (0)."""
    campaign = {r["account_id"] for r in traffic.labels if r["is_attack"] == 1}
    t = _inputs(engine)
    keep = np.isin(np.asarray(t.column("account_id").to_pylist()), list(campaign))
    t = t.filter(pa.array(keep))
    y = np.array([traffic.request_labels.get(r, 1) for r in t.column("request_id").to_pylist()])
    return align(t, list(INPUT_NAMES)), y


@pytest.fixture(scope="module")
def trained(lt, tmp_path_factory) -> tuple[RequestModel, Path]:
    """A request model fitted on two labelled worlds (seeds 1 and 2), saved as an artifact."""
    parts = [_campaign_requests(*lt.analyzed(s, "none", "none")[:2]) for s in (1, 2)]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = np.repeat(["w1", "w2"], [len(p[1]) for p in parts])
    model = RequestModel(max_iter=60).fit(X, y, groups, list(INPUT_NAMES))
    path = model.save(tmp_path_factory.mktemp("request-model") / "request-model.json")
    return model, path


@pytest.fixture(scope="module")
def unseen(lt, trained):
    """A world the request model never saw (seed 3), analysed with it."""
    return lt.analyzed(3, "none", str(trained[1]))


def test_inputs_read_each_request_against_its_account(lt):
    traffic, engine, _ = lt.analyzed(0, "none", "none")
    t = _inputs(engine)
    assert t.column_names == ["request_id", "account_id", *INPUT_NAMES]
    rows = [r for r in t.to_pylist() if r["account_id"] == "atkC00"]
    harvest = [r for r in rows if traffic.request_labels[r["request_id"]] == 1]
    genuine = [r for r in rows if traffic.request_labels[r["request_id"]] == 0]
    # The campaign's requests repeat a few templates and hop between addresses; the
    # customer's requests come from one home connection with varied prompts.
    share = {k: np.mean([r["template_share"] for r in v]) for k, v in (("h", harvest), ("g", genuine))}
    assert share["h"] > 3 * share["g"]
    assert np.mean([r["ip_share"] for r in genuine]) > 3 * np.mean([r["ip_share"] for r in harvest])
    assert all(0.0 <= r["template_share"] <= 1.0 for r in rows)


def test_shares_are_leave_one_out_so_a_one_off_reads_zero_at_any_volume(lt):
    """A request alone in its group reads 0 whatever the account's volume (a plain share,
    1/n, told the model the account's size); one sharing it with all the others reads 1."""
    _, engine, _ = lt.analyzed(0, "none", "none")
    rows = engine.fetch_arrow(
        "SELECT i.*, k.session_id, count(*) OVER (PARTITION BY i.account_id) AS n, "
        "count(*) OVER (PARTITION BY i.account_id, k.session_id) AS n_sess "
        "FROM request_inputs i JOIN request_keys k USING (request_id)"
    ).to_pylist()
    alone = [r for r in rows if r["n_sess"] == 1 and r["session_id"] is not None]
    sizes = {r["n"] for r in alone}
    assert len(sizes) > 5 and all(r["session_share"] == 0.0 for r in alone)
    paired = [r for r in rows if r["n_sess"] == 2 and r["n"] > 2]
    assert paired and all(
        np.isclose(r["session_share"], 1 / (r["n"] - 1)) for r in paired
    )
    # The eval runner sends one template from one address: every other request shares them.
    runner = [r for r in rows if r["account_id"] == "eval0"]
    assert all(r["template_share"] == 1.0 and r["ip_share"] == 1.0 for r in runner)


def test_mixed_account_harvest_separated_from_customer_traffic_in_an_unseen_world(unseen, lt):
    traffic, engine, _ = unseen
    pred, y = lt.mixed_request_marks(traffic, engine, Policy.load(None).scoring.request_threshold)
    assert y.any() and (~y).any()
    recall, precision = (pred & y).sum() / y.sum(), (pred & y).sum() / max(pred.sum(), 1)
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)


def test_a_benign_heavy_user_has_no_harvest_request(unseen):
    traffic, engine, _ = unseen
    thr = Policy.load(None).scoring.request_threshold
    heavy = engine.fetch_arrow(
        "SELECT account_id, count(*) AS n FROM requests WHERE account_id LIKE 'ben%' "
        "GROUP BY account_id ORDER BY n DESC LIMIT 1"
    ).to_pylist()[0]
    assert heavy["n"] >= 30
    worst = engine.fetch_arrow(
        "SELECT coalesce(max(risk), 0.0) AS r FROM out_requests "
        f"WHERE account_id = '{heavy['account_id']}'"
    ).column("r")[0].as_py()
    assert worst < thr


def test_harvest_probability_is_monotone_in_the_text_signal(trained):
    model, _ = trained
    rng = np.random.default_rng(0)
    X = rng.random((200, len(INPUT_NAMES)))
    j = INPUT_NAMES.index("harvest")
    lo, hi = X.copy(), X.copy()
    lo[:, j], hi[:, j] = 0.1, 0.9
    assert np.all(model.predict_harvest(hi) >= model.predict_harvest(lo) - 1e-12)


def test_artifact_round_trip_and_policy_switch(trained, tmp_path: Path):
    model, path = trained
    loaded = resolve(str(path))
    X = np.random.default_rng(1).random((50, len(INPUT_NAMES)))
    assert np.allclose(loaded.predict_harvest(X), model.predict_harvest(X))
    assert loaded.manifest_["inputs"] == list(INPUT_NAMES)
    assert resolve("none") is None
    with pytest.raises(InvalidInputError, match="not found"):
        resolve(str(tmp_path / "missing.json"))


def test_refit_on_the_same_worlds_writes_the_same_weights(lt, trained, tmp_path: Path):
    """`distillguard train` must rebuild the shipped request model byte for byte: a refit on
    the same rows gives the same pickled weights."""
    parts = [_campaign_requests(*lt.analyzed(s, "none", "none")[:2]) for s in (1, 2)]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    groups = np.repeat(["w1", "w2"], [len(p[1]) for p in parts])
    again = RequestModel(max_iter=60).fit(X, y, groups, list(INPUT_NAMES))
    path = again.save(tmp_path / "request-model.json")
    first = trained[1].with_suffix(".pkl").read_bytes()
    assert path.with_suffix(".pkl").read_bytes() == first


def _world_on_disk(lt, seed: int, root: Path, shuffle: bool) -> tuple[Path, Path]:
    """A hand-written world as ``distillguard train`` reads it: labels.csv and
    request_labels.csv beside, request_inputs.parquet in its findings (rows shuffled or not)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    traffic, engine, _ = lt.analyzed(seed, "none", "none")
    world, findings = root / f"w{seed}", root / f"w{seed}-findings"
    world.mkdir(parents=True)
    findings.mkdir()
    pacsv.write_csv(pa.Table.from_pylist(traffic.labels), world / "labels.csv")
    labels = traffic.request_labels
    pacsv.write_csv(
        pa.table({"request_id": list(labels), "is_attack": list(labels.values())}),
        world / "request_labels.csv",
    )
    t = _inputs(engine)
    if shuffle:
        t = t.take(np.random.default_rng(seed).permutation(t.num_rows))
    pq.write_table(t, findings / "request_inputs.parquet")
    return world, findings


def test_training_rows_do_not_depend_on_the_parquet_row_order(lt, tmp_path: Path):
    """The engine writes request_inputs in no repeatable order (parallel COPY), so a fresh
    machine's `distillguard train` must select and order the same training rows anyway."""
    from distillguard.scoring.request_model import training_table

    tables = []
    for shuffle in (False, True):
        pairs = [_world_on_disk(lt, s, tmp_path / str(shuffle), shuffle) for s in (1, 2)]
        tables.append(training_table([w for w, _ in pairs], [f for _, f in pairs]))
    (X0, y0, g0, _), (X1, y1, g1, _) = tables
    assert len(y0) > 0 and np.array_equal(y0, y1) and np.array_equal(g0, g1)
    assert np.array_equal(X0, X1, equal_nan=True)


def test_fit_needs_two_worlds():
    X, y = np.zeros((4, len(INPUT_NAMES))), np.array([0, 1, 0, 1])
    with pytest.raises(InvalidInputError, match="two worlds"):
        RequestModel().fit(X, y, np.array(["w"] * 4), list(INPUT_NAMES))


def test_builtin_request_model_is_shipped_and_reads_these_inputs():
    assert BUILTIN.is_file(), "run `distillguard train` to build the shipped request model"
    assert resolve("builtin").names_ == list(INPUT_NAMES)


def test_the_learned_request_model_is_the_default():
    assert Policy.load(None).scoring.request_model == "builtin"


@pytest.mark.parametrize("seed", [0, 1])
def test_shipped_models_meet_the_request_targets_on_another_generator(lt, seed):
    """The shipped risk and request models (trained on the simulator's random worlds only)
    on this hand-written generator's mixed accounts: the issue's targets, recall >= 80% and
    precision >= 90% at the policy's request threshold."""
    traffic, engine, _ = lt.analyzed(seed, "builtin", "builtin")
    pred, y = lt.mixed_request_marks(traffic, engine, Policy.load(None).scoring.request_threshold)
    assert y.any() and (~y).any()
    recall, precision = (pred & y).sum() / y.sum(), (pred & y).sum() / max(pred.sum(), 1)
    assert recall >= 0.8 and precision >= 0.9, (recall, precision)


def test_scoring_in_chunks_gives_the_numbers_of_one_call(monkeypatch):
    """``score`` works SCORE_ROWS rows at a time (memory flat in requests): the same
    probabilities, bit for bit and in order, as one call over the whole matrix."""
    import distillguard.scoring.request_model as rm

    model = resolve("builtin")
    rng = np.random.default_rng(7)
    n = 1_000
    cols = {name: rng.random(n) for name in INPUT_NAMES}
    cols["harvest"][::7] = np.nan  # missing values go through the chunks too
    table = pa.table({"request_id": [f"r{i}" for i in range(n)], **cols})
    whole = model.predict_harvest(align(table, model.names_))
    monkeypatch.setattr(rm, "SCORE_ROWS", 97)  # ragged last chunk
    chunked = model.score(table)
    assert chunked.shape == (n,)
    assert np.array_equal(chunked, whole)
    assert model.score(table.slice(0, 0)).shape == (0,)
