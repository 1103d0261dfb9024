"""Lockstep (SynchroTrap): accounts acting in the same buckets fire; a crowd does not."""

from __future__ import annotations

import pyarrow as pa
import pytest

from distillguard.accounts.fingerprint import AccountFingerprinter
from distillguard.coordination.lockstep import Lockstep
from distillguard.engines.base import DuckDBEngine
from distillguard.errors import InvalidParameterError

H = 3_600_000
D = 24 * H


def lockstep(lt, rows, **params):
    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    AccountFingerprinter(units=()).fit(engine)  # request_keys
    unit = Lockstep(**params).fit(engine)
    feats = unit.join(pa.table({"account_id": sorted({r["account_id"] for r in rows})}))
    return {r["account_id"]: r for r in feats.to_pylist()}, engine


def test_campaign_in_lockstep_vs_people_at_their_own_hours(lt):
    rows = []
    for k in range(5):  # five keys of one operator, the same hours on the same days
        for d in range(6):
            for h in (3, 9, 15):
                rows.append(
                    {
                        "account_id": f"c{k}",
                        "ts_ms": lt.T0 + d * D + h * H + k * 60_000,
                        "capability": "math",
                    }
                )
    for k in range(5):  # five people, each at their own hours, on the same model and task kind
        for d in range(6):
            rows.append(
                {
                    "account_id": f"p{k}",
                    "ts_ms": lt.T0 + d * D + (10 + 2 * k) * H + d * H,
                    "capability": "math",
                }
            )
    f, _ = lockstep(lt, rows)
    assert f["c0"]["lockstep_peers"] == 4 and f["c0"]["lockstep_jaccard"] == pytest.approx(1.0)
    assert all(f[f"p{k}"]["lockstep_peers"] == 0 for k in range(5))
    assert all(f[f"p{k}"]["lockstep_jaccard"] == 0.0 for k in range(5))


def test_same_hours_but_different_actions_are_not_lockstep(lt):
    rows = [
        {"account_id": a, "ts_ms": lt.T0 + d * D + 9 * H, "capability": cap}
        for a, cap in (("coder", "code"), ("mathematician", "math"))
        for d in range(6)
    ]
    f, _ = lockstep(lt, rows)
    assert f["coder"]["lockstep_peers"] == 0 and f["coder"]["lockstep_jaccard"] == 0.0


def test_blocks_larger_than_max_block_form_no_pairs(lt):
    # Thirty accounts all in the same two busy buckets: a crowd, not a lockstep group, once
    # the block limit is below the crowd; within the limit they pair up.
    rows = [
        {"account_id": f"a{k:02d}", "ts_ms": lt.T0 + h * H + k, "capability": "chat"}
        for k in range(30)
        for h in (20, 21)
    ]
    small, engine = lockstep(lt, rows, max_block=10)
    assert all(r["lockstep_peers"] == 0 for r in small.values())
    pairs = engine.fetch_arrow("SELECT count(*) AS n FROM lockstep_pairs").column("n")[0].as_py()
    assert pairs == 0  # no quadratic work inside an oversized block
    big, _ = lockstep(lt, rows, max_block=50)
    assert all(r["lockstep_peers"] == 29 for r in big.values())


def test_one_shared_bucket_is_a_coincidence(lt):
    rows = [{"account_id": a, "ts_ms": lt.T0 + 5 * H, "capability": "math"} for a in "xy"]
    rows += [
        {"account_id": a, "ts_ms": lt.T0 + (6 + i) * D, "capability": "math"}
        for i, a in enumerate("xy")
    ]
    f, _ = lockstep(lt, rows)  # min_shared = 2
    assert f["x"]["lockstep_peers"] == 0 and f["x"]["lockstep_jaccard"] == 0.0


def test_daily_template_lockstep_names_its_columns(lt):
    rows = [
        {"account_id": a, "ts_ms": lt.T0 + d * D + i * H, "skeleton_hash": 77}
        for a, i in (("s1", 1), ("s2", 7))
        for d in range(3)
    ]
    f, _ = lockstep(lt, rows, name="lockstep_daily", bucket_minutes=1440, action="template")
    assert f["s1"]["lockstep_daily_peers"] == 1
    # The same rows on an hourly grid never meet.
    g, _ = lockstep(lt, rows, bucket_minutes=60, action="template")
    assert g["s1"]["lockstep_peers"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"action": "ip"},
        {"bucket_minutes": 0},
        {"max_block": 1},
        {"min_jaccard": 2.0},
        {"name": "drop table"},
    ],
)
def test_lockstep_rejects_bad_parameters(params):
    with pytest.raises(InvalidParameterError):
        Lockstep(**params).fit(DuckDBEngine())


# ---- coverage complementarity (a shard's disjoint slices of one pool) -----------------------
def _complement(lt, rows):
    from distillguard.coordination.complementarity import CoverageComplementarity

    engine = DuckDBEngine()
    engine.register_arrow("requests", lt.requests_table(rows))
    AccountFingerprinter(units=()).fit(engine)
    unit = CoverageComplementarity().fit(engine)
    feats = unit.join(pa.table({"account_id": sorted({r["account_id"] for r in rows})}))
    return {r["account_id"]: r for r in feats.to_pylist()}


def test_shard_slices_are_exclusive_a_class_repeats_its_problems(lt):
    rows = [  # four keys, one template, items 0-39 dealt in disjoint slices of ten
        {
            "account_id": f"k{m}",
            "ts_ms": lt.T0 + i,
            "skeleton_hash": 500,
            "prompt_hash": 1000 + m * 10 + i,
        }
        for m in range(4)
        for i in range(10)
    ]
    rows += [  # five students, one worksheet template, the same eight problems each
        {"account_id": f"s{m}", "ts_ms": lt.T0 + i, "skeleton_hash": 600, "prompt_hash": 2000 + i}
        for m in range(5)
        for i in range(8)
    ]
    rows += [  # a lone user of a template nobody else uses: no pool
        {"account_id": "solo", "ts_ms": lt.T0 + i, "skeleton_hash": 700, "prompt_hash": 3000 + i}
        for i in range(10)
    ]
    f = _complement(lt, rows)
    assert f["k0"]["pool_exclusive_share"] == 1.0 and f["k0"]["pool_accounts"] == 4
    assert f["s0"]["pool_exclusive_share"] == 0.0 and f["s0"]["pool_repeated_share"] == 1.0
    assert f["solo"]["pool_exclusive_share"] == 0.0 and f["solo"]["pool_accounts"] == 0
