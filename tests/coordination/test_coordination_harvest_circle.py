"""Harvest circles: a few unrelated accounts on one private harvest wording fire; a campus
class, an organisation, an eval runner and a popular phrasing do not."""

from __future__ import annotations

import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.accounts.ipintel import IP_INTEL_SCHEMA
from distillguard.coordination.harvest_circle import HarvestCircle
from distillguard.engines.base import DuckDBEngine

H = 3_600_000


def circle(lt, rows, accounts=None):
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    if accounts is not None:
        engine.register_arrow("accounts", pa.Table.from_pylist(accounts))
    ips = sorted({r["ip"] for r in rows if r.get("ip")})
    intel = [{"ip": ip, "prefix": ip.rsplit(".", 1)[0] + ".0/24"} for ip in ips]
    engine.register_arrow("ip_intel", pa.Table.from_pylist(intel, schema=IP_INTEL_SCHEMA))
    AccountFingerprinter(units=()).fit(engine)  # request_keys, account_meta
    feats = HarvestCircle().fit(engine).join(
        pa.table({"account_id": sorted({r["account_id"] for r in rows})})
    )
    return {r["account_id"]: r["harvest_circle"] for r in feats.to_pylist()}


def _req(lt, aid, i, tpl, ip, harvest=True, **extra):
    row = {"account_id": aid, "ts_ms": lt.T0 + i * H, "skeleton_hash": tpl, "ip": ip}
    if harvest:
        row["sig_cot"] = 0.9
    return {**row, **extra}


def _bystanders(lt, n):
    """``n`` people with one plain prompt each: the deployment a circle is small within."""
    return [_req(lt, f"by{k}", 0, 5000 + k, f"60.{k}.0.1", harvest=False) for k in range(n)]


def test_careful_circle_fires_campus_class_does_not(lt):
    rows = _bystanders(lt, 20)
    for k in range(5):  # five unrelated homes, one private harvest wording
        rows += [_req(lt, f"careful{k}", i, 101, f"71.{k}.9.{k + 1}") for i in range(8)]
    for k in range(5):  # five students on one campus /24, the same assignment wording
        rows += [_req(lt, f"student{k}", i, 202, f"128.32.10.{k + 1}") for i in range(8)]
    for i in range(8):  # an eval runner: its own harvest template
        rows.append(_req(lt, "eval", i, 303, "52.95.110.10"))
    f = circle(lt, rows)
    assert all(f[f"careful{k}"] == pytest.approx((5 / 5) / 5) for k in range(5))
    assert all(f[f"student{k}"] == 0.0 for k in range(5))
    assert f["eval"] == 0.0


def test_shared_card_or_org_is_one_group_not_a_circle(lt):
    rows, accounts = _bystanders(lt, 20), []
    for k in range(4):  # four keys of one company: different offices, one card
        rows += [
            _req(lt, f"co{k}", i, 404, f"20.{k}.1.1", payment_fingerprint="card-co")
            for i in range(6)
        ]
    for k in range(4):  # four keys of one research org (verified), each on its own cloud host
        rows += [_req(lt, f"lab{k}", i, 505, f"34.{k}.2.2") for i in range(6)]
        ver = "business" if k == 0 else "email"
        accounts.append({"account_id": f"lab{k}", "org_id": "org-lab", "verification": ver})
    f = circle(lt, rows, accounts)
    assert all(f[f"co{k}"] == 0.0 for k in range(4))
    assert all(f[f"lab{k}"] == 0.0 for k in range(4))


def test_an_org_nobody_verified_is_no_group(lt):
    """Four unrelated accounts claiming one self-serve org on a private harvest wording are
    still a circle: an org counts only once one of its accounts passed business verification
    (``accounts.definitions.ACCOUNT_OWNER``), as in payment rings and coordination edges."""
    rows, accounts = _bystanders(lt, 20), []
    for k in range(4):
        rows += [_req(lt, f"ring{k}", i, 606, f"34.{k}.3.3") for i in range(6)]
        accounts.append({"account_id": f"ring{k}", "org_id": "org-ring", "verification": "email"})
    f = circle(lt, rows, accounts)
    assert all(f[f"ring{k}"] == pytest.approx((4 / 4) / 4) for k in range(4))


def test_circle_size_is_relative_to_the_deployment(lt):
    rows = []
    for k in range(5):
        rows += [_req(lt, f"c{k}", i, 111, f"74.{k}.8.8") for i in range(4)]
    alone = circle(lt, rows)  # five accounts are the whole deployment: no circle
    among = circle(lt, rows + _bystanders(lt, 20))  # five of 25 (5² <= 25): a circle
    assert alone["c0"] == 0.0
    assert among["c0"] == pytest.approx(1 / 5)


def test_popular_phrasing_and_plain_prompts_count_little(lt):
    rows = []
    for k in range(40):  # a phrasing forty unrelated people use, with a harvest phrase in it
        rows += [_req(lt, f"p{k}", i, 606, f"81.{k}.3.3") for i in range(3)]
    for k in range(3):  # a small circle without harvest content: friends sharing a prompt
        rows += [_req(lt, f"f{k}", i, 707, f"92.{k}.4.4", harvest=False) for i in range(3)]
    for i in range(3):  # the same circle's accounts, half harvest on the circle's template
        rows.append(_req(lt, "half", i, 808, "93.1.1.1", harvest=i == 0))
        rows.append(_req(lt, "half2", i, 808, "93.2.1.1"))
    f = circle(lt, rows)
    assert f["p0"] == 0.0  # 40 of 45 accounts: a crowd's phrasing (40² > 45), not a circle
    assert all(f[f"f{k}"] == 0.0 for k in range(3))
    # one harvest request in three on a 2-account circle: a third of the 0.5 weight
    assert f["half"] == pytest.approx(0.5 / 3)
    assert f["half2"] == pytest.approx(0.5)


def test_an_organisations_mail_domain_ties_a_public_providers_does_not(lt):
    rows, accounts = [], []
    for k in range(4):  # a research group: own cloud hosts, one university domain
        rows += [_req(lt, f"uni{k}", i, 909, f"35.{k}.5.5") for i in range(4)]
        accounts.append({"account_id": f"uni{k}", "email_domain": "cs.example.edu"})
    for k in range(4):  # a careful circle on a public mail provider many others use too
        rows += [_req(lt, f"c{k}", i, 910, f"72.{k}.6.6") for i in range(4)]
        accounts.append({"account_id": f"c{k}", "email_domain": "mail.example.com"})
    for k in range(10):  # the provider's other users, on their own prompts
        rows += [_req(lt, f"o{k}", 0, 1000 + k, f"73.{k}.7.7", harvest=False)]
        accounts.append({"account_id": f"o{k}", "email_domain": "mail.example.com"})
    f = circle(lt, rows, accounts)
    assert all(f[f"uni{k}"] == 0.0 for k in range(4))
    assert all(f[f"c{k}"] == pytest.approx(1 / 4) for k in range(4))


def test_default_in_the_catalog_and_separates_the_handwritten_careful_campaign(lt):
    from distillguard.accounts.units import DEFAULT_UNITS, make_unit
    from distillguard.scoring.catalog import BY_NAME, feature_columns

    assert "harvest_circle" in DEFAULT_UNITS
    assert BY_NAME["harvest_circle"].inputs == (("harvest_circle", 1),)
    assert "harvest_circle" in feature_columns()  # a model input, ranked in-deployment
    assert isinstance(make_unit("harvest_circle"), HarvestCircle)
    traffic = lt.build(0)
    engine = DuckDBEngine()
    lt.load(engine, traffic)
    fp = AccountFingerprinter(units=("harvest_circle",)).fit(engine)
    value = {r["account_id"]: r["harvest_circle"] for r in fp.features_.to_pylist()}
    label = {r["account_id"]: r for r in traffic.labels}
    careful = [value[a] for a, r in label.items() if r["campaign_id"] == "campD"]
    hard = [value[a] for a, r in label.items() if r["persona"] not in ("benign", "attack")]
    benign = [value[a] for a, r in label.items() if r["persona"] == "benign"]
    # campD: five unrelated homes on one private harvest wording; the class, the enterprise,
    # the eval runners, the agents and the app platform share theirs within one org or not at all
    assert min(careful) > max(hard) and min(careful) > max(benign)
