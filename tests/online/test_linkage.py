"""The online linkage index: evidence that survives a new account, and enforcement that does
not show where the line is (delayed, silent, jittered; audited and reversible)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from distillguard.online.linkage import (
    LinkSettings,
    MemoryLinkage,
    delay_ms,
    jitter,
    link_keys,
    make_linkage,
    signup_keys,
)
from distillguard.online.scorer import OnlineScorer

from .conftest import HARVEST, T0

Rec = Callable[..., dict[str, Any]]


def req(account: str, i: int = 0, org: str | None = None, **kw: Any) -> dict[str, Any]:
    """A normalised, featurized row as the scorer hands it to the index."""
    row = {
        "account_id": account,
        "org_id": org or f"org-{account}",
        "ts_ms": T0 + i * 60_000,
        "payment_fingerprint": "pf-shared",
        "ip": f"203.0.113.{i % 200 + 1}",
        "user_agent": "python-httpx/0.27.0",
        "capability": "math",
        "reasoning": "high",
        "max_tokens": 8192,
        "temperature": 0.6,
        "model": "m",
        "skeleton_hash": 77,
    }
    row.update(kw)
    return row


@pytest.fixture(params=["memory", "redis"])
def index(request: pytest.FixtureRequest) -> MemoryLinkage:
    if request.param == "memory":
        return MemoryLinkage(with_asn=False)
    return make_linkage(request.getfixturevalue("redis_url"))


def flagged_ring(index: MemoryLinkage) -> None:
    """Three accounts of one ring (same card, network, client, wording); two acted on."""
    for i, a in enumerate(("a1", "a2", "a3")):
        index.observe(req(a, i))
    index.flag("a1", 1.0, T0)
    index.flag("a2", 1.0, T0)


def test_a_fresh_account_inherits_its_linked_clusters_risk_on_its_first_request(
    index: MemoryLinkage,
) -> None:
    flagged_ring(index)
    fresh = index.observe(req("new", 5))
    assert fresh.risk >= 0.7 and fresh.key and fresh.flagged == 2
    assert "acted on" in fresh.reasons[0]
    stranger = index.observe(
        req(
            "other",
            6,
            payment_fingerprint="pf-own",
            skeleton_hash=5,
            user_agent="curl/8",
            max_tokens=None,
            reasoning=None,
        )
    )
    assert stranger.risk == 0.0


def test_a_shared_wording_or_sdk_defaults_say_nothing_about_who_sends(
    index: MemoryLinkage,
) -> None:
    """Linked only by template and params to flagged accounts: the parameter tuple's linked
    risk, no sender risk."""
    flagged_ring(index)
    own = {"payment_fingerprint": "pf-own", "user_agent": "curl/8", "ip": "192.0.2.7"}
    stranger = index.observe(req("asker", 5, **own))
    assert stranger.risk > 0.2  # same wording and parameters as the ring
    assert stranger.sender_risk == 0.0  # but nothing says it is the ring
    ring = index.observe(req("new", 6))
    assert ring.sender_risk >= 0.5  # the ring's card links a fresh account of it


def test_a_shared_wording_alone_lends_nothing_and_corroborates_a_sender_link(
    index: MemoryLinkage,
) -> None:
    """A benign customer who asks with the ring's (rare) wording, and nothing else of the
    ring's, is not linked; the same wording on top of the ring's card adds to its risk."""
    flagged_ring(index)
    own = {"payment_fingerprint": "pf-own", "user_agent": "curl/8", "ip": "192.0.2.7"}
    asker = index.observe(req("asker", 5, max_tokens=None, reasoning=None, **own))
    assert asker.risk == 0.0 and asker.key is None
    on_card = index.observe(req("card", 6, skeleton_hash=99, user_agent="curl/8"))
    both = index.observe(req("both", 7, user_agent="curl/8"))
    assert on_card.sender_risk > 0.0
    assert both.risk > on_card.risk  # the wording corroborates the card


def test_one_organisation_lends_no_risk_to_its_own_accounts(index: MemoryLinkage) -> None:
    for i, a in enumerate(("o1", "o2", "o3")):
        index.observe(req(a, i, org="org-vendor"))
    index.flag("o1", 1.0, T0)
    index.flag("o2", 1.0, T0)
    assert index.observe(req("o4", 4, org="org-vendor")).risk == 0.0


def test_an_appeal_stops_the_account_lending_risk(index: MemoryLinkage) -> None:
    index.observe(req("a1", 0))
    index.flag("a1", 1.0, T0)
    assert index.observe(req("a2", 1)).risk > 0.3
    index.unflag("a1")
    assert index.observe(req("a3", 2)).risk == 0.0


def test_one_job_spread_thin_adds_up_on_its_shared_keys() -> None:
    cfg = LinkSettings(job_floor=20)
    idx = MemoryLinkage(cfg, with_asn=False)
    views = [idx.observe(req(f"thin{i}", i, ip=f"198.51.{i}.9")) for i in range(80)]
    assert views[5].risk == 0.0  # a few harvest-like requests are nothing
    assert views[-1].risk > 0.5 and views[-1].job >= 60  # sixty, from sixty accounts


def population(idx: MemoryLinkage, n: int, heavy: int = 0, light: int = 0) -> None:
    """``n`` ordinary customers (own card, network, wording), the first ``heavy`` of them
    asking 30 harvest-like questions each, the next ``light`` three, the others one ordinary
    request."""
    for i in range(n):
        own = {
            "payment_fingerprint": f"pf-c{i}",
            "ip": f"192.0.{i % 250}.{i // 250 + 1}",
            "skeleton_hash": 10_000 + i,
            "max_tokens": None,
            "temperature": None,
        }
        if i >= heavy:
            idx.observe(req(f"c{i}", 0, capability="other", reasoning=None, **own))
        for j in range(30 if i < heavy else 3 if i < heavy + light else 0):
            idx.observe(req(f"c{i}", j, **own))


def test_the_job_floor_is_the_body_of_the_deployments_account_windows() -> None:
    """Calibrated on account-windows: 2% of the accounts harvest 30 in a window, 10% three, the
    rest nothing; at the 95th percentile one account-window carries 3, not the heavy bursts."""
    idx = MemoryLinkage(LinkSettings(), with_asn=False)
    assert idx.floor.get() == LinkSettings().job_floor  # no population yet: the setting
    population(idx, 300, heavy=6, light=30)
    idx.floor._refresh()
    assert idx.floor.get() == pytest.approx(3.0)


def test_a_keys_heaviest_customer_is_free_the_others_add_up() -> None:
    """A heavy customer and a light one on one card: the card carries the heavy one's volume
    for free. Two organisations each harvesting far above the floor on one card: a job."""
    idx = MemoryLinkage(LinkSettings(), with_asn=False)
    population(idx, 300, heavy=6, light=30)
    idx.floor._refresh()
    card = {"payment_fingerprint": "pf-family", "skeleton_hash": 5, "ip": "198.51.100.7"}
    views = [idx.observe(req("runner", i, **card)) for i in range(40)]
    views += [idx.observe(req("kid", 40 + i, **card)) for i in range(2)]
    assert views[-1].sender_risk == 0.0  # 42 on the card, against 40 + 3 for free
    ring = {"payment_fingerprint": "pf-ring", "skeleton_hash": 6, "ip": "198.51.100.8"}
    views = [idx.observe(req(f"r{i % 2}", 100 + i, **ring)) for i in range(40)]
    assert views[-1].job >= 40 and views[-1].sender_risk > 0.4  # 20 + 20 against 20 + 3


@pytest.mark.parametrize("state", ["memory", "redis"])
def test_the_heaviest_customer_is_free_in_memory_and_in_redis(
    state: str, request: pytest.FixtureRequest
) -> None:
    """Once the floor is calibrated (before, ``job_floor`` is what a whole key carries), a
    card's heaviest organisation is free on top of it, in process and in Redis alike."""
    spec = "memory" if state == "memory" else request.getfixturevalue("redis_url")
    idx = make_linkage(spec, LinkSettings(job_floor=40), with_asn=False)
    card = {"payment_fingerprint": "pf-family", "skeleton_hash": 5, "ip": "198.51.100.7"}
    views = [idx.observe(req("runner", i, **card)) for i in range(30)]
    views += [idx.observe(req("kid", 30 + i, **card)) for i in range(20)]
    assert views[-1].sender_risk > 0.0  # uncalibrated: 50 on the card against 40 in all
    idx.clear()
    population(idx, 120, light=12)
    idx.floor._refresh()
    assert idx.floor.calibrated() and idx.floor.get() == pytest.approx(3.0)
    views = [idx.observe(req("runner", i, **card)) for i in range(40)]
    views += [idx.observe(req("kid", 40 + i, **card)) for i in range(3)]
    assert views[-1].sender_risk == 0.0  # 43 on the card, against 40 + 3
    ring = {"payment_fingerprint": "pf-ring", "skeleton_hash": 6, "ip": "198.51.100.8"}
    views = [idx.observe(req(f"r{i % 2}", 100 + i, **ring)) for i in range(40)]
    assert views[-1].sender_risk > 0.35  # 20 + 20, against 20 + 3 on the card


def test_a_ring_does_not_set_its_own_floor() -> None:
    """Windows of accounts sharing a card with another organisation are not pooled, and the
    floor is the lowest estimate of the last ``floor_memory_s``: lone accounts harvesting
    above it raise it only once they have kept at it that long."""
    cfg = LinkSettings(floor_memory_s=86400.0)
    idx = MemoryLinkage(cfg, with_asn=False)
    population(idx, 300, heavy=6, light=30)
    idx.floor._refresh()
    for i in range(400):  # a ring on two cards, 40 accounts, 10 questions each
        idx.observe(req(f"ring{i % 40}", i, payment_fingerprint=f"pf-r{i % 2}"))
    idx.floor._refresh()
    assert idx.floor.get() == pytest.approx(3.0)  # shared cards: not pooled
    for i in range(1200):  # 60 lone accounts, 20 questions each within three hours
        a = f"lone{i % 60}"
        idx.observe(
            {**req(a, 0, payment_fingerprint=f"pf-{a}", ip=f"198.18.{i % 60}.1"),
             "ts_ms": T0 + 400 * 60_000 + i * 9_000}
        )
    idx.floor._refresh()
    heavy = sum(c for v, c in idx.floor._samples().items() if v >= 5)
    assert heavy >= 60 and idx.floor.get() == pytest.approx(3.0)
    late = T0 + 2 * 86400 * 1000  # a day and more later, the lone accounts still at it
    for i in range(1200):
        a = f"lone{i % 60}"
        idx.observe(
            {**req(a, 0, payment_fingerprint=f"pf-{a}", ip=f"198.18.{i % 60}.1"),
             "ts_ms": late + i * 1000}
        )
    idx.floor._refresh()
    assert idx.floor.get() > 3.0


def test_accounts_spreading_a_job_thin_cannot_raise_the_floor() -> None:
    idx = MemoryLinkage(LinkSettings(job_min_accounts=100), with_asn=False)
    population(idx, 300, heavy=6)
    before = idx.floor.get()
    for i in range(600):  # two hundred thin accounts, three harvest-like requests each
        idx.observe(req(f"thin{i % 200}", i, payment_fingerprint=f"pf-r{i % 25}"))
    idx.floor._refresh()
    assert idx.floor.get() <= before


def test_a_key_shared_by_a_crowd_weighs_less() -> None:
    small, crowd = MemoryLinkage(with_asn=False), MemoryLinkage(with_asn=False)
    probe = {"skeleton_hash": None, "max_tokens": None, "capability": "other", "reasoning": None}
    for idx, n in ((small, 3), (crowd, 200)):
        for i in range(n):
            idx.observe(req(f"m{i}", 0, **probe))
        idx.flag("m0", 1.0, T0)
        idx.flag("m1", 1.0, T0)
    assert crowd.observe(req("x", 1, **probe)).risk < small.observe(req("x", 1, **probe)).risk / 4


def test_memory_stays_bounded() -> None:
    idx = MemoryLinkage(LinkSettings(max_keys=50, max_members=4, max_accounts=30), with_asn=False)
    for i in range(500):
        idx.observe(req(f"a{i}", i, payment_fingerprint=f"pf{i % 120}", skeleton_hash=i))
    assert idx.n_keys() <= 50 and len(idx.accounts) <= 30
    assert all(len(k.members) <= 4 for k in idx.keys.values())


@pytest.mark.parametrize(
    "fields",
    [
        {"ip": "not-an-ip", "user_agent": "x" * 10_000},
        {"ip": "2001:db8::1", "payment_fingerprint": None, "skeleton_hash": 0},
        {"ip": None, "user_agent": None, "capability": None, "reasoning": "off"},
    ],
)
def test_odd_fields_build_fewer_keys_never_an_error(fields: dict) -> None:
    row = req("a", 0, **fields)
    keys = link_keys(row, with_asn=False)
    assert all(":" in k for k in keys)
    assert MemoryLinkage(with_asn=False).observe(row).risk == 0.0


def test_jitter_and_delays_are_keyed_stable_and_bounded() -> None:
    a, b = b"secret-a" * 4, b"secret-b" * 4
    js = [jitter(a, f"payment:{i}", 0.3) for i in range(200)]
    assert all(1.0 <= j <= 1.3 for j in js) and len(set(js)) > 150
    assert jitter(a, "k", 0.3) == jitter(a, "k", 0.3) != jitter(b, "k", 0.3)
    assert jitter(a, None, 0.3) == 1.0
    ds = [delay_ms(a, f"account:{i}", 300, 1800) for i in range(200)]
    assert all(300_000 <= d <= 1_800_000 for d in ds) and max(ds) - min(ds) > 600_000


def harvester(record: Rec, acct: str, i: int) -> dict[str, Any]:
    return record(
        i,
        account=acct,
        text=HARVEST,
        ip=f"34.102.137.{i % 50 + 2}",
        user_agent="python-httpx/0.27.0 harvest-client",
        payment_fingerprint="pf-ring",
        org_id=f"org-{acct}",
        reasoning="high",
        max_tokens=8192,
        temperature=0.6,
    )


def test_a_new_account_of_a_denied_ring_is_stopped_on_its_first_request(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    s = OnlineScorer(tmp_path / "data", write_policy({}))
    t = 0
    for acct in ("ring-1", "ring-2", "ring-3"):
        for _ in range(40):
            s.score(harvester(record, acct, t))
            t += 7
    first = s.score(harvester(record, "ring-fresh", t))
    assert first.action in ("challenge", "rate_limit", "block", "degrade")
    assert first.rule and first.rule.startswith("linked-")
    assert first.cluster_id and first.cluster_id.startswith("link:")
    assert any("linked by" in r for r in first.reasons)


def test_delayed_enforcement_is_silent_then_enforced_audited_and_reversible(
    tmp_path: Path, record: Rec
) -> None:
    # An online account-level rule (here on the request's own signal, so that the test does
    # not depend on how fast risk builds up) with the shipped linkage settings: delays on.
    rule = {"name": "harvester", "when": {"sig_cot": {">=": 0.5}}, "action": "rate_limit",
            "scope": "account", "rate_per_s": 0.02, "burst": 5, "expires_s": 3600}
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"online": {"shadow": False, "rules": [rule]}}))
    s = OnlineScorer(tmp_path / "data", policy)
    decisions = [s.score(harvester(record, "h", i)) for i in range(60)]
    delayed = [d for d in decisions if d.params.get("delayed")]
    assert delayed and all(d.action == "degrade" and d.params["silent"] for d in delayed)
    late = s.score(harvester(record, "h", 60 + 1800))  # past the longest delay
    assert late.action in ("rate_limit", "challenge", "block")
    entries = [e for e in s.audit.entries() if e["action"].startswith("delayed:")]
    assert entries and entries[0]["extra"]["due_ts_ms"] > T0
    got = s.appeal("h", actor="analyst", reason="a verified researcher")
    assert got["reversed"] and not s.linked._due  # actions, flags and pending delays gone
    assert s.score(harvester(record, "h", 2000)).action in ("allow", "log")


def test_members_at_review_risk_lend_it_on_the_card_not_on_a_wording(
    index: MemoryLinkage,
) -> None:
    """Before anyone is acted on, members whose own online risk reaches the review threshold
    lend it to a fresh account on their card; on a shared wording or SDK defaults they do not,
    and members below the threshold lend nothing."""
    for i, a in enumerate(("r1", "r2")):
        index.observe(req(a, i), own_risk=0.9)
    fresh = index.observe(req("new", 3))
    assert fresh.sender_risk >= 0.6 and fresh.flagged == 2
    asker = {"payment_fingerprint": "pf-own", "user_agent": "curl/8", "ip": "192.0.2.7"}
    assert index.observe(req("asker", 4, **asker)).risk == 0.0
    low = MemoryLinkage(with_asn=False)
    for i, a in enumerate(("l1", "l2")):
        low.observe(req(a, i), own_risk=0.4)
    assert low.observe(req("new", 3)).risk == 0.0


def test_lent_risk_is_the_latest_and_lasts_one_window(index: MemoryLinkage) -> None:
    index.observe(req("r1", 0), own_risk=0.9)
    index.observe(req("r1", 1), own_risk=0.1)  # its risk fell: it lends nothing any more
    assert index.observe(req("new", 2)).sender_risk == 0.0
    index.observe(req("r2", 3), own_risk=0.9)
    later = 6 * 60 + 10  # minutes: past the six-hour window
    assert index.observe(req("new2", later)).sender_risk == 0.0


def test_a_lone_accounts_own_risk_degrades_nothing_without_a_sender_link(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    """A customer with its own card asking step-by-step questions: however its own traffic
    scores, the shipped online rules need a second, independent source before they act."""
    s = OnlineScorer(tmp_path / "data", write_policy({}))
    own = {"payment_fingerprint": "pf-student", "org_id": "org-student", "reasoning": "high"}
    got = [s.score(record(i, account="student", text=HARVEST, **own)) for i in range(30)]
    assert all(d.action in ("allow", "log") for d in got)
    assert max(d.account_risk for d in got) > 0.0  # it was scored, not ignored


def test_an_appeal_stops_the_account_lending_its_own_risk(index: MemoryLinkage) -> None:
    index.observe(req("r1", 0), own_risk=0.95)
    assert index.observe(req("new", 1)).sender_risk > 0.3
    index.unflag("r1")
    assert index.observe(req("new2", 2)).sender_risk == 0.0


def test_a_whole_hosting_asn_corroborates_but_never_names_the_sender() -> None:
    """A link on an ASN with a browser family (residential proxies exit from ranges the IP
    data calls hosting) is sender evidence, but not identity evidence: no deny rests on it."""
    from distillguard.online.linkage import combine

    asn = combine([("asn_client:AS64500|ab12", 0.6, 4, 2, 50.0)])
    assert asn.sender_risk == pytest.approx(0.6) and asn.identity_risk == 0.0
    card = combine([("asn_client:AS64500|ab12", 0.6, 4, 2, 50.0), ("payment:pf", 0.5, 3, 1, 9.0)])
    assert card.identity_risk == pytest.approx(0.5) and card.sender_risk == pytest.approx(0.8)


def test_the_online_deny_needs_a_link_that_names_one_sender() -> None:
    from distillguard.online.policy import compile_rules
    from distillguard.policy import Policy

    (deny,) = [r for r in compile_rules(Policy.load(None).online) if r.name == "online-high-risk"]
    heavy = {"online_risk": 0.9, "n_total": 50, "linked_sender_risk": 0.6}
    assert not deny.matches({**heavy, "linked_identity_risk": 0.0})  # an ASN link only
    assert deny.matches({**heavy, "linked_identity_risk": 0.3})  # a shared card


def test_the_linked_deny_needs_a_member_acted_on_or_two_organisations_at_risk(
    index: MemoryLinkage,
) -> None:
    """One member's lent own risk never denies its card-mate (a benign pair sharing a card,
    one of them at high online risk); a member acted on, or two organisations at review
    risk, do."""
    from distillguard.online.policy import compile_rules
    from distillguard.policy import Policy

    (deny,) = [r for r in compile_rules(Policy.load(None).online) if r.name == "linked-cluster-deny"]
    index.observe(req("risky", 0), own_risk=0.95)
    mate = index.observe(req("mate", 1))
    assert mate.sender_risk > 0 and mate.flagged == 0
    assert not deny.matches({"linked_risk": 0.6, "linked_flagged": mate.flagged, "harvest_like": True})
    index.observe(req("risky2", 2), own_risk=0.95)
    assert index.observe(req("mate2", 3)).flagged == 2
    index.flag("risky", 1.0, T0 + 4 * 60_000)
    assert index.observe(req("mate3", 5)).flagged >= 1


def test_an_account_passing_through_a_network_lends_nothing_to_the_people_behind_it(
    index: MemoryLinkage,
) -> None:
    """A rotating-proxy account exits once through a resident's /24 (same browser family) and
    is acted on: the resident is not linked to it. An account that sends from that /24 most
    of the time still lends its flags to the next account on it."""
    quiet = {"capability": "other", "reasoning": None, "max_tokens": None, "temperature": None}
    home = {"ip": "198.51.100.20", "user_agent": "Mozilla/5.0 Firefox/128", **quiet}
    index.observe(req("proxy", 0, payment_fingerprint="pf-proxy", **home))
    for i in range(1, 10):  # then nine other exits
        away = {**home, "ip": f"203.0.{i}.9"}
        index.observe(req("proxy", i, payment_fingerprint="pf-proxy", **away))
    index.flag("proxy", 1.0, T0)
    resident = index.observe(req("resident", 11, payment_fingerprint="pf-res", **home))
    assert resident.risk == 0.0 and resident.sender_risk == 0.0
    for i in range(12, 16):
        index.observe(req("local", i, payment_fingerprint="pf-local", **home))
    index.flag("local", 1.0, T0)
    neighbour = index.observe(req("neighbour", 17, payment_fingerprint="pf-nb", **home))
    assert neighbour.sender_risk > 0.0 and neighbour.key and neighbour.key.startswith("home:")


def test_a_lone_accounts_ceiling_is_what_the_deployments_heaviest_accounts_carry() -> None:
    """No population, no ceiling. Then the ceiling is what the heaviest customers carry (the
    heaviest account never sets its own), and only volume above it in two windows running
    counts: one burst, however large, does not."""
    idx = MemoryLinkage(LinkSettings(job_min_accounts=100), with_asn=False)
    lone = {"payment_fingerprint": "pf-lone", "ip": "198.18.0.9", "skeleton_hash": None}
    early = [idx.observe(req("early", i, **lone)) for i in range(80)]
    assert early[-1].ceiling is None and early[-1].own_pressure == 0.0
    idx.clear()
    population(idx, 300, heavy=6)  # six customers harvest 30 questions each
    idx.floor._refresh()
    assert idx.floor.ceiling() == pytest.approx(30.0)
    views = [idx.observe(req("lone", i, **lone)) for i in range(720)]  # one a minute, 12 h
    idx.floor._refresh()
    assert idx.floor.ceiling() == pytest.approx(30.0)  # the lone account is the top: not it
    assert views[300].own > 30 and views[300].own_pressure == 0.0  # one window: a burst
    assert views[-1].own_prev > 30 and views[-1].own_pressure > 0.9  # sustained: 360 vs 30


def test_a_lone_harvester_above_the_deployment_is_degraded_silently_never_denied(
    tmp_path: Path, write_policy: Callable, record: Rec
) -> None:
    """No key shared with anyone, so no link: harvesting more than the deployment's heaviest
    customers in two windows running is degraded (silently, never denied, lent to nobody);
    the heaviest customers themselves, with one burst each, are left alone."""
    s = OnlineScorer(tmp_path / "data", write_policy({}, linkage={"job_min_accounts": 20}))

    def own(acct: str, n: int) -> dict[str, Any]:
        return {"payment_fingerprint": f"pf-{acct}", "org_id": f"org-{acct}",
                "ip": f"192.0.{n}.7", "reasoning": "high"}

    heavy = [s.score(record(i, account=f"heavy{n}", text=HARVEST, **own(f"heavy{n}", n)))
             for n in range(3) for i in range(20)]
    for n in range(30):
        s.score(record(0, account=f"casual{n}", **own(f"casual{n}", 10 + n)))
    lone = [s.score(record(60 * i, account="lone", text=HARVEST, **own("lone", 99)))
            for i in range(480)]  # one a minute for eight hours
    assert all(d.action in ("allow", "log") for d in heavy)
    assert all(d.action in ("allow", "log") for d in lone[:360])  # its first window: a burst
    assert all(d.action in ("allow", "log", "degrade") for d in lone)  # never a deny
    degraded = [d for d in lone if d.action == "degrade"]
    assert degraded and {d.rule for d in degraded} == {"lone-harvest"}
    assert all(d.params.get("silent") for d in degraded)
    assert not any("lone" in k.flags for k in s.linked.index.keys.values())  # lends nothing


def test_an_accounts_own_volume_is_counted_in_this_window_and_the_one_before(
    index: MemoryLinkage,
) -> None:
    lone = {"payment_fingerprint": "pf-lone", "ip": "198.18.0.9", "skeleton_hash": None}
    views = [index.observe(req("lone", 2 * i, **lone)) for i in range(270)]  # 9 h, every 2 min
    assert views[100].own == 101 and views[100].own_prev == 0
    assert 175 <= views[-1].own <= 185 and 85 <= views[-1].own_prev <= 95  # 6 h and 3 h


def test_a_signup_wave_corroborates_a_card_and_never_stands_alone(index: MemoryLinkage) -> None:
    """Accounts opened in one sign-up wave share a ``signup:`` key. A flagged member lends
    nothing through the wave alone (a class of students signs up together), but on top of a
    card link the wave adds to what the card says."""
    wave = signup_keys(
        {"email_domain": "uni.example", "signup_route": "education", "created_ms": T0},
        {"domain_burst": 1.0},
    )
    assert wave and wave[0].startswith("signup:domain|")
    assert signup_keys({"email_domain": "uni.example"}, {"domain_burst": 0.0}) == []
    for a in ("w1", "w2", "w3"):
        index.note_signup(a, wave)
    own = {"skeleton_hash": None, "max_tokens": None, "temperature": None}
    index.observe(req("w1", 0, payment_fingerprint="pf-w1", ip="198.18.1.1", **own))
    index.observe(req("c1", 1, payment_fingerprint="pf-card", ip="198.18.2.1", **own))
    index.flag("w1", 1.0, T0)
    index.flag("c1", 0.2, T0)
    alone = index.observe(req("w2", 2, payment_fingerprint="pf-w2", ip="198.18.3.1", **own))
    assert alone.risk == 0.0  # the wave alone lends nothing
    card = index.observe(req("x", 3, payment_fingerprint="pf-card", ip="198.18.4.1", **own))
    both = index.observe(req("w3", 4, payment_fingerprint="pf-card", ip="198.18.5.1", **own))
    assert 0.0 < card.risk < both.risk
    assert both.identity_risk == pytest.approx(card.identity_risk, abs=0.02)  # not a sender


def test_signup_endpoint_records_the_waves_an_account_was_opened_in(tmp_path: Path) -> None:
    """Each sign-up below claims another day as its ``created_at``: the wave's day is when the
    service scored it, so a caller cannot spread its accounts out of one wave."""
    from fastapi.testclient import TestClient

    from distillguard.online.service import create_app

    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"online": {"shadow": False}}))
    scorer = OnlineScorer(tmp_path / "data", policy)
    app = create_app(scorer, "api", "admin")
    with TestClient(app) as c:
        for i in range(4):
            r = c.post("/v1/signup", headers={"Authorization": "Bearer api"}, json={
                "account_id": f"s{i}", "signup_route": "education", "verification": "email",
                "email_domain": "tiny-college.example", "country": "NZ",
                "created_at": 1_700_000_000_000 + i * 10 * 86_400_000})
            assert r.status_code == 200
    waves = scorer.linked.index._signup
    assert "s0" not in waves and waves["s3"][0].startswith("signup:domain|")
    assert waves["s3"][0] in waves["s2"]  # one wave, whatever day each claimed
