"""The deployment reference: one account ranked against a published deployment reads the
percentile batch gave it among that deployment."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from distillguard.errors import InvalidInputError
from distillguard.scoring.catalog import HAND_SET, feature_columns
from distillguard.scoring.model import (
    deployment_reference,
    input_names,
    model_input_columns,
    model_inputs,
    percentile,
    volume_cohort,
)
from distillguard.scoring.reference import MAX_POINTS, DeploymentReference

STRINGS = ("signup_route", "route_kind", "client_kind")


def _deployment(n: int = 1500, seed: int = 0) -> tuple[pa.Table, dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    cols = {"account_id": pa.array([f"a{i}" for i in range(n)])}
    for c in feature_columns():
        x = rng.lognormal(0, 1, n)
        x[rng.random(n) < 0.3] = 0.0  # a mass of ties, as most shares have
        x[rng.random(n) < 0.05] = np.nan
        cols[c] = pa.array(x, from_pandas=True)
    cols["n_requests"] = pa.array(rng.integers(1, 5000, n).astype(float))
    cols["signup_route"] = pa.array(rng.choice(["standard", "education", None], n))
    # route cohorts: a big direct crowd, a cloud route too small to split by client, a reseller
    # route below the minimum (ranked in the whole deployment), and logs without the fields
    route = rng.choice(["direct", "cloud", "reseller", None], n, p=[0.85, 0.1, 0.01, 0.04])
    cols["route_kind"] = pa.array(route)
    cols["client_kind"] = pa.array(rng.choice(["browser", "program", None], n, p=[0.45, 0.5, 0.05]))
    strengths = {e: rng.random(n) for e in HAND_SET}
    sizes = np.where(rng.random(n) < 0.1, rng.integers(3, 30, n), 0).astype(float)
    return pa.table(cols), strengths, sizes


@pytest.mark.parametrize("values", [np.repeat([0.0, 1.0, 2.5], [50, 30, 20]), np.arange(40.0)])
def test_few_distinct_values_read_back_the_exact_batch_percentile(values: np.ndarray) -> None:
    ref = DeploymentReference.fit(
        {"f": values}, np.zeros(len(values), int), np.zeros(len(values)), {}, 1
    )
    assert np.allclose(ref.percentile("f", values), percentile(values), atol=1e-6)
    # between two points: interpolated; beyond the ends: 0 and 1; NaN stays NaN
    got = ref.percentile("f", np.array([-1.0, 1e9, np.nan]))
    assert got[0] == 0.0 and got[1] == 1.0 and np.isnan(got[2])


def test_many_distinct_values_are_within_one_grid_step() -> None:
    x = np.random.default_rng(1).normal(size=5000)
    ref = DeploymentReference.fit({"f": x}, np.zeros(5000, int), np.zeros(5000), {}, 1)
    assert len(ref.data["features"]["f"]["all"]["values"]) <= MAX_POINTS
    err = np.abs(ref.percentile("f", x) - percentile(x))
    assert err.max() <= 1.0 / (MAX_POINTS - 1)
    # one value at a time (the online path) reads the same number as a vector
    one = [ref.percentile("f", np.array([v]))[0] for v in x[:200]]
    assert np.allclose(one, ref.percentile("f", x[:200]))


def test_model_inputs_against_its_own_reference_match_the_batch_ranks() -> None:
    features, strengths, sizes = _deployment()
    batch = model_inputs(features, strengths, sizes)
    ref = deployment_reference(features, sizes, batch)
    n_req = np.nan_to_num(features.column("n_requests").to_numpy())
    assert np.array_equal(ref.cohort(np.log1p(n_req)), volume_cohort(n_req))
    again = model_inputs(features, strengths, sizes, reference=ref)
    for name in input_names():
        a, b = (np.asarray(t.column(name).to_numpy(zero_copy_only=False), float) for t in (batch, again))
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        assert np.nanmax(np.abs(a - b)) <= 1.0 / (MAX_POINTS - 1), name
    # and one account alone (a dict of one-element columns) reads the same row, whichever
    # route cohort batch placed it in (fine, fallen back to its route, or the deployment)
    route = features.column("route_kind").to_pylist()
    rows = {route.index(r) for r in ("direct", "cloud", "reseller", None)} | {17}
    for i in sorted(rows):
        one = {
            c: np.array([features.column(c)[i].as_py()], dtype=object if c in STRINGS else float)
            for c in features.column_names
            if c != "account_id"
        }
        one_strengths = {e: s[i : i + 1] for e, s in strengths.items()}
        cols = model_input_columns(one, one_strengths, sizes[i : i + 1], ref)
        for name in input_names():
            want = again.column(name)[i].as_py()
            assert cols[name][0] == pytest.approx(np.nan if want is None else want, nan_ok=True), name


def test_json_round_trip_and_clear_errors(tmp_path) -> None:
    features, strengths, sizes = _deployment(300)
    ref = deployment_reference(features, sizes, model_inputs(features, strengths, sizes))
    path = tmp_path / "risk_reference.json"
    path.write_text(ref.to_json())
    back = DeploymentReference.load(path)
    x = features.column(feature_columns()[0]).to_numpy(zero_copy_only=False)
    assert np.allclose(back.percentile(feature_columns()[0], x), ref.percentile(feature_columns()[0], x), equal_nan=True)
    # Bounded per distribution (129 points: overall, per volume cohort, per comparable cohort:
    # at most 4 volumes x (1 + 3 routes + 6 route|client keys)), not by the deployment's size.
    n_dist = 1 + 4 + len(ref.data["features"][feature_columns()[0]]["routes"])
    assert n_dist <= 1 + 4 + 4 * 10
    assert path.stat().st_size < 4_000 * n_dist * len(feature_columns())
    path.write_text('{"format_version": 99}')
    with pytest.raises(InvalidInputError, match="format 99"):
        DeploymentReference.load(path)
    path.write_text("not json")
    with pytest.raises(InvalidInputError, match="not JSON"):
        DeploymentReference.load(path)


def test_empty_reference_gives_missing_percentiles_and_no_evidence_medians() -> None:
    ref = DeploymentReference.empty(4)
    assert np.isnan(ref.percentile("harvest_share", np.array([0.3]))).all()
    med = ref.medians(["ev:harvest_content", "pct:harvest_share"])
    assert med[0] == 0.0 and np.isnan(med[1])
