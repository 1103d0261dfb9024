"""Comparable cohorts: each account's evidence ranked among the accounts that reach the API the
same way (access route kind, client kind, volume), falling back to a coarser cohort when too
small."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from distillguard.scoring.definitions import ACCOUNT_COHORT_KEYS
from distillguard.scoring.model import (
    ANY,
    attach_cohort_keys,
    cohort_level,
    cohort_levels,
    cohort_percentile,
    cohort_plan,
    group_percentile,
    min_cohort_size,
    percentile,
    route_groups,
)


def test_minimum_cohort_is_the_square_root_of_the_deployment() -> None:
    assert [min_cohort_size(n) for n in (0, 1, 100, 101, 2080)] == [1, 1, 10, 11, 46]


def test_grouped_percentile_is_the_percentile_within_each_group_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    x = np.round(rng.lognormal(0, 1, n), 2)  # many ties
    x[rng.random(n) < 0.3] = 0.0
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, 1 + 1e-12]  # infinities are not ranked; float noise is a tie
    codes = rng.integers(-1, 7, n)  # -1: no group
    got = group_percentile(x, codes)
    assert np.isnan(got[codes < 0]).all() and np.isnan(got[:2]).all()
    for g in range(7):
        m = codes == g
        assert np.array_equal(got[m], percentile(x[m]), equal_nan=True)


def test_levels_name_route_client_and_volume_and_leave_unknowns_to_the_volume_cohort() -> None:
    feats = {
        "route_kind": np.array(["cloud", "cloud", None, "direct", "bogus"], dtype=object),
        "client_kind": np.array(["browser", None, "program", "program", "browser"], dtype=object),
    }
    fine, route, volume = cohort_levels(feats, np.array([0, 1, 2, 3, 0]))
    assert fine.tolist() == ["cloud|browser|v0", ANY, ANY, "direct|program|v3", ANY]
    assert route.tolist() == ["cloud|v0", "cloud|v1", ANY, "direct|v3", ANY]
    assert volume.tolist() == ["v0", "v1", "v2", "v3", "v0"]
    # a log without the fields at all: everyone in its volume cohort, as before route cohorts
    fine, route, volume = cohort_levels({"n_requests": np.ones(3)}, np.array([0, 0, 1]))
    assert set(fine) == set(route) == {ANY} and volume.tolist() == ["v0", "v0", "v1"]


def _small_cloud_and_reseller() -> dict[str, np.ndarray]:
    # 100 accounts of one volume cohort, minimum 10: direct|program (60) and direct|browser
    # (25) stand; cloud has 12 accounts, split 8 / 4 by client (both below 10), so they fall
    # back to the cloud route; 3 reseller accounts fall back to the volume cohort.
    route = ["direct"] * 85 + ["cloud"] * 12 + ["reseller"] * 3
    client = ["program"] * 60 + ["browser"] * 25 + ["program"] * 8 + ["browser"] * 4 + ["program"] * 3
    return {"route_kind": np.array(route, object), "client_kind": np.array(client, object)}


def test_small_cohorts_fall_back_to_the_route_then_the_volume_cohort() -> None:
    feats, volume = _small_cloud_and_reseller(), np.zeros(100, int)
    level = cohort_level(cohort_levels(feats, volume), min_cohort_size(100))
    assert (level[:85] == 0).all() and (level[85:97] == 1).all() and (level[97:] == 2).all()
    assert set(route_groups(feats, volume)) == {
        "direct|program|v0", "direct|browser|v0", "direct|v0", "cloud|v0", "v0"
    }
    # ranked among every member of the key chosen: the cloud accounts among all 12
    x = np.arange(100.0)
    got = cohort_percentile(x, cohort_plan(cohort_levels(feats, volume), level))
    assert np.allclose(got[85:97], percentile(x[85:97]))
    assert np.allclose(got[97:], percentile(x)[97:])


def test_a_cloud_account_is_ranked_among_cloud_accounts() -> None:
    rng = np.random.default_rng(0)
    n = 400
    route = np.array(["direct"] * 340 + ["cloud"] * 60, object)
    client = np.array(["program"] * n, object)
    # cloud accounts are busier overall: an ordinary cloud account looks busy in the deployment
    x = np.r_[rng.normal(0, 1, 340), rng.normal(3, 1, 60)]
    levels = cohort_levels({"route_kind": route, "client_kind": client}, np.zeros(n, int))
    got = cohort_percentile(x, cohort_plan(levels, cohort_level(levels, min_cohort_size(n))))
    cloud = route == "cloud"
    assert np.allclose(got[cloud], percentile(x[cloud]))
    assert np.allclose(got[~cloud], percentile(x[~cloud]))
    median_cloud = np.argsort(x[cloud])[30] + 340
    assert percentile(x)[median_cloud] > 0.85 and abs(got[median_cloud] - 0.5) < 0.03


def test_keys_from_the_log_majority_route_and_browser_user_agents() -> None:
    requests = pa.table(
        {
            "account_id": ["a", "a", "a", "b", "b", "c", "d", "d"],
            "access_route": [
                "cloud:bedrock", "cloud:vertex", "direct", "reseller:x", "direct", None, "direct", "cloud:x",
            ],
            "user_agent": [
                "Mozilla/5.0 (X11)", "openai-python/1.3", "curl/8", "Mozilla/5.0", "Mozilla/5.0",
                None, "", None,
            ],
        }
    )
    con = duckdb.connect()
    con.register("requests", requests)
    rows = {r["account_id"]: r for r in con.sql(ACCOUNT_COHORT_KEYS).to_arrow_table().to_pylist()}
    assert (rows["a"]["route_kind"], rows["a"]["client_kind"]) == ("cloud", "program")
    assert (rows["b"]["route_kind"], rows["b"]["client_kind"]) == ("direct", "browser")  # tie → direct
    assert (rows["c"]["route_kind"], rows["c"]["client_kind"]) == (None, None)
    assert (rows["d"]["route_kind"], rows["d"]["client_kind"]) == ("direct", None)


def test_keys_attach_in_the_features_row_order() -> None:
    features = pa.table({"account_id": ["z", "a", "m"], "n_requests": [1.0, 2.0, 3.0]})
    keys = pa.table(
        {"account_id": ["a", "z"], "route_kind": ["cloud", "direct"], "client_kind": ["program", None]}
    )
    out = attach_cohort_keys(features, keys)
    assert out.column("account_id").to_pylist() == ["z", "a", "m"]
    assert out.column("route_kind").to_pylist() == ["direct", "cloud", None]
    assert out.column("client_kind").to_pylist() == [None, "program", None]
