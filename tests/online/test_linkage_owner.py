"""Online linkage pools an account with the owner batch gave it from the operator's account
table (``accounts.definitions.ACCOUNT_OWNER``), not with the org its request claims (issue 16)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from distillguard.online.linkage import MemoryLinkage, make_linkage
from distillguard.online.scorer import OnlineScorer
from distillguard.online.verdicts import VerdictCache

from .conftest import T0, make_store
from .test_linkage import req


@pytest.fixture(params=["memory", "redis"])
def index(request: pytest.FixtureRequest) -> MemoryLinkage:
    if request.param == "memory":
        return MemoryLinkage(with_asn=False)
    return make_linkage(request.getfixturevalue("redis_url"))


def _store_with_accounts(data_dir: Path) -> Path:
    """The store plus ``account_meta``: org ``vendor`` has a business-verified account, org
    ``selfserve`` only an email-verified one, and ``loner`` names no org."""
    make_store(data_dir)
    con = duckdb.connect(str(data_dir / "store.duckdb"))
    con.execute(
        "CREATE TABLE account_meta(account_id VARCHAR, verification VARCHAR, org_id VARCHAR)"
    )
    con.execute("""INSERT INTO account_meta VALUES
        ('v1', 'business', 'vendor'), ('v2', 'email', 'vendor'), ('v3', 'email', 'vendor'),
        ('s1', 'email', 'selfserve'), ('loner', 'email', NULL)""")
    con.close()
    return data_dir


def test_the_cache_loads_each_accounts_owner_by_batchs_rule(tmp_path: Path) -> None:
    cache = VerdictCache.load(_store_with_accounts(tmp_path / "data"))
    assert cache.owner("v2") == "org:vendor"  # a verified org owns all its accounts
    assert cache.owner("s1") == "s1"  # an unverified org is only declared: its own owner
    assert cache.owner("loner") == "loner"
    assert cache.owner("fresh") is None  # not in the table: the cache does not know it


def test_claiming_an_org_in_the_request_does_not_inherit_its_pooling(
    tmp_path: Path, write_policy: Callable
) -> None:
    s = OnlineScorer(_store_with_accounts(tmp_path / "data"), write_policy({}))
    lk = s.linked

    def observe(acct: str, i: int, org: str) -> float:
        row = req(acct, i, org=org)
        return lk.index.observe(row, 0.0, lk.owner(row)).risk

    observe("v1", 0, "vendor")
    observe("v2", 1, "vendor")
    lk.index.flag("v1", 1.0, T0)
    lk.index.flag("v2", 1.0, T0)
    # The vendor's own third account shares the card: its org's flags are not evidence on it.
    assert observe("v3", 2, "vendor") == 0.0
    # Accounts that claim the vendor's org in their requests are not the vendor's.
    assert lk.owner(req("s1", 3, org="vendor")) == "s1"
    assert observe("s1", 3, "vendor") > 0.0
    assert observe("fresh", 4, "vendor") > 0.0


def test_a_request_org_counts_for_an_unlisted_account_only_from_a_trusted_source(
    tmp_path: Path, write_policy: Callable
) -> None:
    """... a gateway that authenticates the org (``online/orgs.py``), for an org the policy
    allow-lists; a plain claim of an allow-listed org pools with nobody."""
    s = OnlineScorer(_store_with_accounts(tmp_path / "data"), write_policy({}))
    assert s.linked.owner(req("fresh", 0, org="vendor")) == "fresh"
    trusted = OnlineScorer(
        _store_with_accounts(tmp_path / "data2"), write_policy({"allow_orgs": ["vendor"]})
    )
    assert trusted.linked.owner(req("fresh", 0, org="vendor")) == "fresh"
    assert trusted.linked.owner(req("fresh", 0, org="vendor", org_trusted=True)) == "org:vendor"
    assert trusted.linked.owner(req("s1", 0, org="vendor", org_trusted=True)) == "s1"  # the table


def test_the_account_table_overrides_owners_members_stored_before_it_was_loaded(
    index: MemoryLinkage,
) -> None:
    index.observe(req("v1", 0, org="vendor"), 0.0, "v1")  # before any table: its own owner
    index.flag("v1", 1.0, T0)
    assert index.observe(req("v3", 1, org="vendor"), 0.0, "org:vendor").risk > 0.0
    owners = {"v1": "org:vendor", "v3": "org:vendor"}
    assert index.observe(req("v3", 2, org="vendor"), 0.0, "org:vendor", owners).risk == 0.0


def test_without_any_account_table_the_request_org_is_all_there_is(
    tmp_path: Path, write_policy: Callable
) -> None:
    s = OnlineScorer(tmp_path / "empty", write_policy({}))
    assert s.linked.owner(req("fresh", 0, org="vendor")) == "org:vendor"


def test_a_new_account_table_re_maps_stored_owners_once_per_key(index: MemoryLinkage) -> None:
    """A reload that moves an account into a verified org re-maps the owners stored under the
    old table, and the re-map is what later requests read (not redone per request)."""
    first = {"v1": "v1", "v3": "v3"}  # the org not verified yet: each its own owner
    index.observe(req("v1", 0, org="vendor"), 0.0, "v1", first)
    index.flag("v1", 1.0, T0)
    assert index.observe(req("v3", 1, org="vendor"), 0.0, "v3", first).risk > 0.0
    second = {"v1": "org:vendor", "v3": "org:vendor"}  # verified since: one owner
    assert index.observe(req("v3", 2, org="vendor"), 0.0, "org:vendor", second).risk == 0.0
    assert index.observe(req("v3", 3, org="vendor"), 0.0, "org:vendor", second).risk == 0.0
    # Back to the first table (an org's verification revoked): lent again.
    assert index.observe(req("v3", 4, org="vendor"), 0.0, "v3", dict(first)).risk > 0.0


def test_a_flagged_account_the_key_no_longer_lists_counts_by_the_tables_owner() -> None:
    """Members beyond ``max_members`` are evicted but their flags still lend: by the owner the
    account table gives them, as while they were members."""
    from distillguard.online.linkage import LinkSettings

    index = MemoryLinkage(LinkSettings(max_members=2), with_asn=False)
    owners = {"v1": "org:vendor", "v2": "org:vendor", "x1": "x1", "x2": "x2"}
    index.observe(req("v1", 0, org="vendor"), 0.0, "org:vendor", owners)
    index.flag("v1", 1.0, T0)
    for i, a in enumerate(("x1", "x2"), 1):  # push v1 out of every key's members
        index.observe(req(a, i), 0.0, a, owners)
    assert "v1" not in next(iter(index.keys.values())).members
    # v1's own colleague: its flag is its org's, not evidence on v2.
    assert index.observe(req("v2", 3, org="vendor"), 0.0, "org:vendor", owners).risk == 0.0
