"""A reason that counts peers names at least one: "shares its settings with 0 other accounts"
tells a reviewer nothing, although a model's attribution can credit a count of 0."""

from __future__ import annotations

import re

import numpy as np
import pytest

from distillguard.engines.outputs import ACCOUNT_REASONS_SQL
from distillguard.scoring.model import resolve

PEER_EVIDENCE = ("lockstep", "shared_parameters", "signup_burst")


@pytest.fixture(scope="module")
def reasons(lt):
    if resolve("builtin") is None:
        pytest.skip("no shipped risk model in this tree")
    _, engine, _ = lt.analyzed(0, risk_model="builtin", reasoning_users=True)
    rows = engine.fetch_arrow(ACCOUNT_REASONS_SQL).to_pylist()
    return [r for r in rows if r["sign"] == "+" and r["evidence"] in PEER_EVIDENCE]


def test_no_reason_counts_zero_peers(reasons):
    assert reasons, "the hand-written campaigns share settings and sign-up waves"
    zero = [r["reason"] for r in reasons if re.search(r"\b0 other account", r["reason"])]
    assert zero == []


def test_every_peer_reason_names_a_positive_count(reasons):
    assert reasons
    for r in reasons:
        counts = [
            int(n.replace(",", "")) for n in re.findall(r"(\d[\d,]*) other account", r["reason"])
        ]
        assert counts and min(counts) > 0, r["reason"]


def _evidence(**peers: float) -> dict[str, str]:
    from distillguard.scoring.analyze import _account_evidence

    f = {
        "n_requests": np.array([40.0]),
        "lockstep_peers": np.array([0.0]),
        "lockstep_daily_peers": np.array([0.0]),
        "param_tuple_peers": np.array([0.0]),
        "signup_burst_peers": np.array([0.0]),
        "signup_window_peers": np.array([0.0]),
    }
    f.update({k: np.array([v]) for k, v in peers.items()})
    # the model's attribution credits all three, whatever their counts
    contrib = {k: np.array([0.4]) for k in PEER_EVIDENCE}
    found = _account_evidence(0, f, contrib, 0.9, "", {}, {}, None)
    return {e.source.split(":", 1)[1]: e.summary for e in found}


def test_a_credited_count_of_zero_gives_no_reason():
    assert _evidence() == {}


def test_each_reason_names_the_count_that_is_there():
    got = _evidence(lockstep_daily_peers=3, param_tuple_peers=1, signup_window_peers=7)
    assert got["lockstep"].startswith("acts in lockstep with 3 other accounts")
    assert got["shared_parameters"].endswith("the usual ones of 1 other account")
    # no one on its own route: the reason says how many signed up through any route
    assert got["signup_burst"] == "signed up within a day of 7 other accounts (other routes)"
    on_path = _evidence(signup_burst_peers=2, signup_window_peers=7)["signup_burst"]
    assert on_path == (
        "signed up within a day of 2 other accounts on the same route and verification"
    )
