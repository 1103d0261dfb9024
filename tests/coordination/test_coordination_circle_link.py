"""Circle links: a careful campaign's account at review joins its fellow at attack through
the private harvest wording they share; a copied wording, a campus class, a wording without
an attacker and a single borrowed request link no one, and neither does a wording its owner
used first (copied from it), nor a fellow of its own organisation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.ipintel import IP_INTEL_SCHEMA
from distillguard.coordination import circle_link
from distillguard.coordination.circle_link import KEY_KIND, circle_links, circle_links_and_holds
from distillguard.coordination.harvest_circle import HarvestCircle
from distillguard.engines.base import DuckDBEngine

H = 3_600_000
REVIEW, ATTACK = 0.5, 0.9


def _req(lt, aid, i, tpl, ip, harvest=True, start=0):
    """Request ``i`` of ``aid``, hourly from ``start`` minutes after T0."""
    row = {"account_id": aid, "ts_ms": lt.T0 + i * H + start * 60_000, "skeleton_hash": tpl,
           "ip": ip}
    if harvest:
        row["sig_cot"] = 0.9
    return row


def _bystanders(lt, n):
    """``n`` people with one plain prompt each: the deployment a circle is small within."""
    return [_req(lt, f"by{k}", 0, 5000 + k, f"60.{k}.0.1", harvest=False) for k in range(n)]


def links(lt, rows, risk: dict[str, float], accounts: list[dict] | None = None, held=False):
    """Linked accounts (id → link) after the harvest-circle unit ran on ``rows``; accounts not
    named in ``risk`` are benign (risk 0). ``accounts``: the operator's account table.
    ``held``: the accounts only the first-user rule keeps at review instead."""
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    if accounts:
        engine.register_arrow("accounts", pa.Table.from_pylist(accounts))
    ips = sorted({r["ip"] for r in rows})
    intel = [{"ip": ip, "prefix": ip.rsplit(".", 1)[0] + ".0/24"} for ip in ips]
    engine.register_arrow("ip_intel", pa.Table.from_pylist(intel, schema=IP_INTEL_SCHEMA))
    AccountFingerprinter(units=()).fit(engine)
    HarvestCircle().fit(engine)
    ids = sorted({r["account_id"] for r in rows})
    r = np.array([risk.get(a, 0.0) for a in ids])
    out = circle_links_and_holds(engine, pa.array(ids), r, REVIEW, ATTACK)[int(held)]
    return {ids[i]: ln for i, ln in out.items()}


def test_careful_accounts_at_review_join_their_fellow_at_attack(lt):
    rows = _bystanders(lt, 30)
    for k in range(4):  # four unrelated homes, one private harvest wording
        rows += [_req(lt, f"c{k}", i, 101, f"71.{k}.9.{k + 1}", start=k) for i in range(6)]
    got = links(lt, rows, {"c0": 0.97, "c1": 0.85, "c2": 0.6, "c3": 0.3})
    assert set(got) == {"c1", "c2"}  # c0 is attack already, c3 is not a suspect on its own
    assert got["c1"].cluster_id == "c0" and got["c1"].key_kind == KEY_KIND
    assert got["c1"].n_members == 1 and got["c1"].cluster_risk == 0.97
    assert got["c2"].members == ("c0",)  # the reviewer's refs: its fellows at attack
    assert "1 account at attack (riskiest c0, risk 0.97)" in got["c2"].reason()


def test_no_link_without_an_attacker_or_on_a_copied_wording(lt):
    rows = _bystanders(lt, 30)
    for k in range(3):  # a circle of suspects, none at attack: nothing to inherit
        rows += [_req(lt, f"s{k}", i, 202, f"72.{k}.9.1") for i in range(6)]
    for k in range(5):  # a wording one attacker uses and four honest people copied
        rows += [_req(lt, f"p{k}", i, 303, f"73.{k}.9.1") for i in range(6)]
    got = links(lt, rows, {"s0": 0.8, "s1": 0.7, "s2": 0.6, "p0": 0.95, "p1": 0.7})
    assert got == {}  # p: 2 of 5 accounts flagged, fewer than half


def test_campus_class_and_single_borrowed_request_do_not_link(lt):
    rows = _bystanders(lt, 30)
    for k in range(4):  # a class on one campus /24: one group, not a circle
        rows += [_req(lt, f"u{k}", i, 404, f"128.32.10.{k + 1}") for i in range(6)]
    for k in range(3):  # a circle whose third account sent its wording once with harvest
        rows += [_req(lt, f"c{k}", i, 505, f"74.{k}.9.1", harvest=k < 2 or i == 0, start=k)
                 for i in range(6)]
    got = links(lt, rows, {"u0": 0.95, "u1": 0.8, "c0": 0.95, "c1": 0.8, "c2": 0.8})
    assert set(got) == {"c1"}  # c2 has one harvest request on the wording: a coincidence


def test_a_wording_copied_from_its_first_user_does_not_link_it(lt):
    """Suspects that copy a customer's wording after the customer used it hand their verdict
    to no one of the customer's; a later honest user of the wording is linked as before."""
    rows = _bystanders(lt, 40)
    rows += [_req(lt, "v0", i, 606, "75.0.9.1") for i in range(6)]  # the wording's first user
    for k in range(3):  # three unrelated suspects copy it a day later
        rows += [_req(lt, f"x{k}", 24 + i, 606, f"76.{k}.9.1") for i in range(2)]
    rows += [_req(lt, "late", 30 + i, 606, "77.0.9.1") for i in range(3)]
    risk = {"v0": 0.8, "x0": 0.95, "x1": 0.95, "x2": 0.95, "late": 0.7}
    assert set(links(lt, rows, risk)) == {"late"}
    # The first user stays at review, its reason naming who sent the wording after it.
    held = links(lt, rows, risk, held=True)
    assert set(held) == {"v0"} and held["v0"].members == ("x0", "x1", "x2")
    assert "not raised to attack: they may have copied it" in held["v0"].held_reason()


def test_a_suspect_that_only_sent_the_wording_as_cover_is_no_fellow(lt):
    """An attacker's cover traffic copies honest prompts verbatim: a suspect whose requests
    on a wording carry no harvest signal does not make it a harvest wording of its own."""
    rows = _bystanders(lt, 40)
    rows += [_req(lt, f"x{k}", i, 808, f"80.{k}.9.1", harvest=False, start=k)
             for k in range(3) for i in range(2)]
    rows += [_req(lt, "u", 3 + i, 808, "81.0.9.1") for i in range(3)]  # asks it with reasoning
    risk = {"x0": 0.95, "x1": 0.95, "x2": 0.95, "u": 0.7}
    assert links(lt, rows, risk) == {}
    rows += [_req(lt, "x0", 9, 808, "80.0.9.1")]  # one of them harvests on it too
    assert links(lt, rows, risk)["u"].members == ("x0",)


def test_an_organisations_colleague_at_attack_is_no_fellow(lt):
    """Two accounts of one verified organisation on a circle wording: the colleague at attack
    does not link the other; an unrelated suspect at attack does."""
    rows = _bystanders(lt, 40)
    rows += [_req(lt, "o1", i, 707, "78.0.9.1", start=5) for i in range(4)]
    rows += [_req(lt, "o2", i, 707, "78.0.9.2", start=6) for i in range(4)]
    rows += [_req(lt, "y0", i, 707, "79.0.9.1") for i in range(4)]  # the wording's first user
    acme = [{"account_id": a, "org_id": "acme", "verification": v}
            for a, v in (("o1", "business"), ("o2", "email"))]
    risk = {"o1": 0.95, "o2": 0.7}
    assert links(lt, rows, risk, acme) == {}
    got = links(lt, rows, {**risk, "y0": 0.95}, acme)
    assert set(got) == {"o2"} and got["o2"].members == ("y0",)
    # Without the verified org the two are unaffiliated: the colleague is a fellow.
    assert links(lt, rows, risk)["o2"].members == ("o1",)


def test_without_the_circle_unit_nothing_links(lt):
    engine = DuckDBEngine()
    rows = [_req(lt, "a", i, 1, "75.0.0.1") for i in range(3)]
    engine.register_arrow("requests", lt.requests_table(rows))
    assert circle_links(engine, pa.array(["a"]), np.array([0.7]), REVIEW, ATTACK) == {}


def test_handwritten_world_links_the_careful_campaign_and_no_honest_persona(lt):
    # The scoring tests' hand-written world (another generator), scored by the shipped model
    # with its honest reasoning users: campaign D's members at review all link, nobody else.
    from distillguard.scoring.model import align, resolve

    traffic, engine, _ = lt.analyzed(0, risk_model="builtin", reasoning_users=True)
    inputs = engine.fetch_arrow("SELECT * FROM model_inputs")
    ids = inputs.column("account_id").to_pylist()
    model = resolve("builtin")
    risk = model.predict_risk(align(inputs, model.names_))  # own evidence, before any link
    got = circle_links(engine, pa.array(ids), risk, REVIEW, ATTACK)
    camp = {r["account_id"]: r["campaign_id"] for r in traffic.labels}
    at_review = {a for a, r in zip(ids, risk, strict=True)
                 if camp[a] == "campD" and REVIEW <= r < ATTACK}
    assert at_review  # the shipped model leaves some of campaign D at review
    # ... all but the first user of its one wording (whom the others may have copied)
    first = engine.fetch_arrow(f"SELECT account_id FROM ({circle_link.CIRCLE_LINK_ROWS}) "
                               "WHERE account_id LIKE 'atkD%' ORDER BY first_ts LIMIT 1")
    first = first.column(0)[0].as_py()
    assert len(at_review - {first}) >= 2
    assert {ids[i] for i in got} == at_review - {first}
    # The first user stays at review and its first reason says why; nobody else has it.
    out = engine.fetch_arrow("SELECT account_id, verdict, reasons FROM out_accounts").to_pylist()
    held = {r["account_id"]: r for r in out if r["reasons"].startswith(circle_link.HELD_LABEL)}
    assert set(held) == {first} and held[first]["verdict"] == "review"
    riskiest = held[first]["reasons"].split("(riskiest ")[1].split(",")[0]
    assert camp[riskiest] == "campD" and risk[ids.index(riskiest)] >= ATTACK
    # It raised nothing, so it is a reason and no evidence row (evidence weights are > 0).
    assert not engine.fetch_arrow(
        "SELECT * FROM evidence WHERE source = 'account:circle_first_user'"
    ).num_rows
