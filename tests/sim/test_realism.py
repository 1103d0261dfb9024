"""Realism and ground-truth properties of the tiny preset (seed 7), asserted on real values."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections import Counter, defaultdict

import numpy as np

from distillguard.contract import ACCOUNT_FIELDS, SIGNUP_ROUTES, VERIFICATION_LEVELS
from distillguard.sim import CAMPAIGN_TYPES, HARD_BENIGN_PERSONAS
from distillguard.sim.geo import COUNTRIES, COUNTRY_TZ

ORDINARY = {"casual", "developer", "student"}
SINGLE_TZ = {c.code for c in COUNTRIES if len(c.tz) == 1}


def _ts(rec: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(rec["ts"])


def _user_turns(rec: dict) -> int:
    return sum(1 for m in rec["messages"] if m["role"] == "user")


def _last_user(rec: dict) -> str:
    return next(m["content"] for m in reversed(rec["messages"]) if m["role"] == "user")


def test_every_record_is_contract_valid(tiny, contract_problems):
    bad = []
    for rec in tiny["records"]:
        p = contract_problems({k: v for k, v in rec.items() if not k.startswith("_")})
        if p:
            bad.append((rec["request_id"], p))
    assert bad == [], bad[:5]
    ids = [r["request_id"] for r in tiny["records"]]
    assert len(set(ids)) == len(ids)
    assert 4_000 <= len(ids) <= 7_000  # "tiny is about 5k requests"


def test_account_table_matches_contract(tiny):
    accounts = tiny["accounts"]
    assert tuple(accounts[0].keys()) == ACCOUNT_FIELDS
    in_log = {r["account_id"] for r in tiny["records"]}
    assert {a["account_id"] for a in accounts} == in_log
    assert 250 <= len(accounts) <= 380
    assert {a["signup_route"] for a in accounts} <= set(SIGNUP_ROUTES)
    assert {a["verification"] for a in accounts} <= set(VERIFICATION_LEVELS)
    assert len({a["signup_route"] for a in accounts}) == len(SIGNUP_ROUTES)
    assert len({a["country"] for a in accounts}) >= 20
    for a in accounts:
        dt.datetime.fromisoformat(a["created_at"])


def test_labels_are_consistent(tiny):
    labels, records = tiny["labels"], tiny["records"]
    assert len(tiny["label_rows"]) == len(labels)  # one row per account
    assert set(labels) == {r["account_id"] for r in records}
    assert len(tiny["request_label_rows"]) == len(records)
    assert {r["request_id"] for r in tiny["request_label_rows"]} == {
        r["request_id"] for r in records
    }
    attack_req = Counter(r["account_id"] for r in records if r["_attack"])
    benign_req = Counter(r["account_id"] for r in records if not r["_attack"])
    for acc, lab in labels.items():
        assert (lab["is_attack"] == "1") == (attack_req[acc] > 0), acc
        if lab["is_attack"] == "1":
            assert lab["campaign_id"] and lab["persona"] in CAMPAIGN_TYPES
        else:
            assert lab["campaign_id"] == "" and lab["persona"] not in CAMPAIGN_TYPES
    for r in records:  # request campaign = account campaign for attack requests
        if r["_attack"]:
            assert r["_campaign"] == labels[r["account_id"]]["campaign_id"]
        else:
            assert r["_campaign"] == ""
    mixed = [a for a, lab in labels.items() if lab["is_attack"] == "1" and benign_req[a] > 0]
    assert len(mixed) >= 2  # hydra accounts that also carry genuine customer traffic
    # Cover traffic: hydra resold capacity and the adaptive campaign's genuine-looking half.
    assert all(labels[a]["persona"] in ("hydra", "adaptive") for a in mixed)
    assert tiny["summary"]["mixed_accounts"] == len(mixed)


def test_every_persona_and_campaign_type_present(tiny):
    personas = Counter(lab["persona"] for lab in tiny["labels"].values())
    for p in (*HARD_BENIGN_PERSONAS, *CAMPAIGN_TYPES, *ORDINARY):
        assert personas[p] > 0, p
    assert personas["hydra"] >= 30
    assert len({lab["campaign_id"] for lab in tiny["labels"].values() if lab["campaign_id"]}) >= 4


def test_benign_activity_is_heavy_tailed(tiny):
    counts = Counter(r["account_id"] for r in tiny["records"] if r["_persona"] in ORDINARY)
    n = np.sort(np.array(list(counts.values())))[::-1]
    top = n[: max(1, len(n) // 10)].sum() / n.sum()
    assert top >= 0.5, top
    assert np.median(n) <= 5 and n.max() >= 20 * np.median(n)


def test_diurnal_cycle_in_local_time(tiny):
    hours = np.zeros(24)
    for r in tiny["records"]:
        if r["_persona"] in ORDINARY and r["country"] in SINGLE_TZ:
            acc_country = r["country"]
            local = _ts(r) + dt.timedelta(hours=COUNTRY_TZ[acc_country])
            hours[local.hour] += 1
    assert hours.sum() > 300
    p = hours / hours.sum()
    night = p[2:6].sum() / 4  # mean share of a night hour
    day = p[10:22].sum() / 12
    assert night < 0.45 * day, (night, day)
    chi2 = ((hours - hours.mean()) ** 2 / hours.mean()).sum()
    assert chi2 > 100  # clearly not uniform (critical value at p=0.001 with 23 dof is 49.7)


def test_weekly_cycle_for_work_personas(tiny):
    wd = Counter()
    for r in tiny["records"]:
        if r["_persona"] in ("developer", "enterprise_batch"):
            wd[_ts(r).weekday() >= 5] += 1
    # Weekends are 2 of 7 days; work traffic on them is far below 2/7.
    assert wd[True] / (wd[True] + wd[False]) < 0.15


def test_multi_turn_sessions_carry_earlier_turns(tiny):
    ordinary = [r for r in tiny["records"] if r["_persona"] in ORDINARY]
    multi = [r for r in ordinary if _user_turns(r) > 1]
    share = len(multi) / len(ordinary)
    assert 0.25 <= share <= 0.65, share
    assert all(any(m["role"] == "assistant" for m in r["messages"]) for r in multi)
    # Later turns of a session repeat its earlier user turns.
    by_sess = defaultdict(list)
    for r in ordinary:
        if "session_id" in r:
            by_sess[r["session_id"]].append(r)
    checked = 0
    for rs in by_sess.values():
        rs.sort(key=lambda r: (_ts(r), _user_turns(r)))
        for a, b in zip(rs, rs[1:], strict=False):
            if _user_turns(b) == _user_turns(a) + 1:
                ua = [m["content"] for m in a["messages"] if m["role"] == "user"]
                ub = [m["content"] for m in b["messages"] if m["role"] == "user"]
                assert ub[: len(ua)] == ua
                checked += 1
    assert checked >= 100


def test_new_model_release_and_hydra_pivot(tiny):
    summary = tiny["summary"]
    release = dt.datetime.fromisoformat(summary["new_model_release"])
    new = summary["new_model"]
    before = [r for r in tiny["records"] if _ts(r) < release]
    assert before and not any(r["model"] == new for r in before)
    after = release + dt.timedelta(hours=24)
    hydra = [
        r for r in tiny["records"] if r["_persona"] == "hydra" and r["_attack"] and _ts(r) >= after
    ]
    benign = [r for r in tiny["records"] if r["_persona"] in ORDINARY and _ts(r) >= after]
    h_share = sum(r["model"] == new for r in hydra) / len(hydra)
    b_share = sum(r["model"] == new for r in benign) / len(benign)
    assert 0.35 <= h_share <= 0.65, h_share
    assert 0.02 <= b_share < h_share - 0.15, (b_share, h_share)
    # The pivot happens within a day of release: hydra already uses the new model then.
    first_day = [
        r
        for r in tiny["records"]
        if r["_persona"] == "hydra" and r["_attack"] and release <= _ts(r) < after
    ]
    assert sum(r["model"] == new for r in first_day) >= 0.2 * len(first_day)
    # Eval runners benchmark the new model within hours of release (a benign look-alike).
    ev = [r for r in tiny["records"] if r["_persona"] == "eval_runner" and r["model"] == new]
    assert ev and min(_ts(r) for r in ev) < release + dt.timedelta(hours=12)


def test_hard_benign_personas_look_like_attackers(tiny):
    recs = tiny["records"]
    by = defaultdict(list)
    for r in recs:
        by[r["_persona"]].append(r)
    # Eval runner: step-by-step prompting over benchmark items, each item once per model.
    ev = by["eval_runner"]
    assert all(
        ("step by step" in _last_user(r) or "ANSWER" in _last_user(r))
        if "def " not in _last_user(r)
        else "function" in _last_user(r)
        for r in ev
    )
    per_model = Counter((r["account_id"], r["model"], _last_user(r)) for r in ev)
    assert max(per_model.values()) == 1
    # Agentic power users: fixed agent system prompt, tools, long tool loops.
    ag = by["agentic_power_user"]
    assert all(r.get("tools") for r in ag)
    assert len({(r["account_id"], r.get("system")) for r in ag}) == len(
        {r["account_id"] for r in ag}
    )
    assert np.mean([len(r["messages"]) for r in ag]) > 6
    assert any(m["role"] == "tool" for r in ag for m in r["messages"])
    # Enterprise batch: one template over many documents, several keys per account.
    en = by["enterprise_batch"]
    for acc in {r["account_id"] for r in en}:
        rs = [r for r in en if r["account_id"] == acc]
        assert len({r["api_key_id"] for r in rs}) >= 3
        assert len({_last_user(r)[:60] for r in rs}) == 1
        assert len({_last_user(r) for r in rs}) > 0.5 * len(rs)
    assert len({r["payment_fingerprint"] for r in en}) == 1  # one organisation, one card
    # University class: one campus /24 for most of the class, same problems asked repeatedly.
    cl = by["university_class"]
    nets = Counter(str(ipaddress.ip_network(r["ip"] + "/24", strict=False)) for r in cl)
    campus, n_campus = nets.most_common(1)[0]
    accounts_on_campus = {
        r["account_id"]
        for r in cl
        if str(ipaddress.ip_network(r["ip"] + "/24", strict=False)) == campus
    }
    assert len(accounts_on_campus) >= 0.6 * len({r["account_id"] for r in cl})
    # App platform: many end-user sessions through a few accounts.
    ap = by["app_platform"]
    assert len({r["session_id"] for r in ap}) >= 50 * len({r["account_id"] for r in ap}) / 2


def _script(text: str) -> str:
    if re.search(r"[\u4e00-\u9fff]", text):
        return "cjk"
    if re.search(r"[\u0400-\u04ff]", text):
        return "cyrillic"
    if re.search(r"[\u0600-\u06ff]", text):
        return "arabic"
    if re.search(r"[\uac00-\ud7af]", text):
        return "hangul"
    if re.search(r"[\u3040-\u30ff]", text):
        return "kana"
    return "latin"


def test_attack_campaign_tactics(tiny):
    recs = tiny["records"]
    labels = tiny["labels"]
    by = defaultdict(list)
    for r in recs:
        if r["_attack"]:
            by[r["_persona"]].append(r)
    # Reasoning harvest: shared cards, CoT elicitation, rubric grading, several languages.
    rh = by["reasoning_harvest"]
    rh_acc = {r["account_id"] for r in rh}
    cards = {r["payment_fingerprint"] for r in rh}
    assert len(cards) < len(rh_acc)
    prompts = [_last_user(r) for r in rh]
    assert sum(
        bool(re.search(r"step by step|reasoning|chain of thought|一步|шаг", p, re.I))
        for p in prompts
    ) > 0.5 * len(prompts)
    assert any(
        "{output_1}" not in p and ("Assistant A" in p or "output" in p.lower()) for p in prompts
    )
    assert {_script(p) for p in prompts} >= {"latin", "cjk", "cyrillic"}
    # Round-robin: consecutive requests of the campaign come from different accounts.
    rh_sorted = sorted(rh, key=_ts)
    switches = sum(
        a["account_id"] != b["account_id"] for a, b in zip(rh_sorted, rh_sorted[1:], strict=False)
    )
    assert switches > 0.9 * (len(rh_sorted) - 1)
    # Agentic harvest: tools and several access routes.
    ag = by["agentic_harvest"]
    assert all(r.get("tools") for r in ag)
    assert len({r["access_route"] for r in ag}) >= 3
    # Hydra: rotating proxies, varied user agents, paraphrases, many languages.
    hy = by["hydra"]
    assert len({r["ip"] for r in hy}) > 0.9 * len(hy)
    assert len({r["user_agent"] for r in hy}) >= 30
    assert len({_script(_last_user(r)) for r in hy}) >= 4
    assert len({r["country"] for r in hy}) >= 8
    # Attack accounts lean on education/research/startup sign-ups with weak verification.
    att = [a for a in tiny["accounts"] if labels[a["account_id"]]["is_attack"] == "1"]
    ben = [a for a in tiny["accounts"] if labels[a["account_id"]]["is_attack"] == "0"]

    def promo(rows: list[dict]) -> float:
        return float(
            np.mean([a["signup_route"] in ("education", "research", "startup") for a in rows])
        )

    assert promo(att) > promo(ben) + 0.3
    # ... but no single field separates them: attackers share UAs, models and countries with benign.
    ben_uas = {r["user_agent"] for r in recs if not r["_attack"]}
    att_uas = {r["user_agent"] for r in recs if r["_attack"]}
    assert len(att_uas & ben_uas) >= 10
    assert {r["model"] for r in recs if r["_attack"]} <= {
        r["model"] for r in recs if not r["_attack"]
    }
    assert any(a["signup_route"] == "standard" for a in att)


def test_addresses_geolocate_to_their_recorded_country(tiny):
    """Residential, mobile, corporate, campus, hosting and proxy addresses all carry the country
    an offline GeoIP table gives them (as a provider's own log would)."""
    from geoip2fast import GeoIP2Fast

    geo = GeoIP2Fast()
    by = defaultdict(lambda: [0, 0])
    for r in tiny["records"]:
        if "ip" not in r:  # only a cloud marketplace hides the client
            assert r["access_route"].startswith("cloud:"), r["request_id"]
            continue
        by[r["_persona"]][0] += geo.lookup(r["ip"]).country_code == r["country"]
        by[r["_persona"]][1] += 1
    total = sum(h for h, _ in by.values()) / sum(n for _, n in by.values())
    assert total >= 0.9, total
    assert all(h / n >= 0.8 for h, n in by.values()), dict(by)
