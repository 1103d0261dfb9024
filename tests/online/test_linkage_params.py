"""A request-parameter tuple links only the accounts it configures (issue 16, eleventh session).

Benign users vary their settings from request to request; two who once sent the same
combination shared a ``params`` key, and when one of them was acted on (a batch false positive)
the other was degraded through it (bench-redteam tiny-112 and small-111). A harness sends its
one tuple on every request, so a ring stays linked.
"""

from __future__ import annotations

from typing import Any

import pytest

from distillguard.online.linkage import MemoryLinkage, make_linkage

from .conftest import T0
from .test_linkage import req

TUPLE = {"max_tokens": 1024, "temperature": 0.0, "reasoning": "high"}  # the shared settings


@pytest.fixture(params=["memory", "redis"])
def index(request: pytest.FixtureRequest) -> MemoryLinkage:
    if request.param == "memory":
        return MemoryLinkage(with_asn=False)
    return make_linkage(request.getfixturevalue("redis_url"))


def _params_only(account: str, i: int, **settings: Any) -> dict[str, Any]:
    """A harvest-like request whose only link key is its parameter tuple."""
    row = req(account, i, payment_fingerprint=None, ip=None, skeleton_hash=None)
    row.update(settings)
    return row


def _varied(index: MemoryLinkage, account: str, start: int, n: int = 6) -> float:
    """``n`` requests with settings of its own each, then one with TUPLE: its risk then."""
    for k in range(n):
        index.observe(_params_only(account, start + k, max_tokens=100 + k, temperature=0.3))
    return index.observe(_params_only(account, start + n, **TUPLE)).risk


def test_people_who_once_sent_the_same_settings_lend_each_other_nothing(
    index: MemoryLinkage,
) -> None:
    _varied(index, "vendor-1", 0)
    index.flag("vendor-1", 1.0, T0 + 10 * 60_000)  # acted on (a batch false positive)
    assert _varied(index, "casual-1", 20) == 0.0


def test_a_harness_ring_stays_linked_by_its_tuple(index: MemoryLinkage) -> None:
    for i, a in enumerate(("h1", "h2", "h3")):
        for k in range(3):
            index.observe(_params_only(a, 3 * i + k, **TUPLE))
    index.flag("h1", 1.0, T0 + 10 * 60_000)
    index.flag("h2", 1.0, T0 + 10 * 60_000)
    fresh = index.observe(_params_only("h-fresh", 20, **TUPLE))  # a new account, first request
    assert fresh.risk > 0.0 and fresh.key is not None and fresh.key.startswith("params:")


def test_a_casual_user_who_once_matches_a_flagged_harness_is_not_linked(
    index: MemoryLinkage,
) -> None:
    for i, a in enumerate(("h1", "h2")):
        for k in range(3):
            index.observe(_params_only(a, 3 * i + k, **TUPLE))
        index.flag(a, 1.0, T0 + 10 * 60_000)
    assert _varied(index, "casual-1", 20) == 0.0  # receives nothing on one shared request
    # the same user, were the tuple its configuration, would be linked
    assert index.observe(_params_only("steady-1", 40, **TUPLE)).risk > 0.0


def test_a_flagged_account_that_sent_the_tuple_once_lends_nothing_on_it(
    index: MemoryLinkage,
) -> None:
    _varied(index, "vendor-1", 0)
    index.flag("vendor-1", 1.0, T0 + 10 * 60_000)
    assert index.observe(_params_only("steady-1", 20, **TUPLE)).risk == 0.0
