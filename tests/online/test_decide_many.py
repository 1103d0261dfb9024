"""The learner decides a micro-batch in one pass (``OnlineScorer.decide_many``): every
decision, every account risk and the risk cache must be those of deciding the rows one at a
time, in order (River's rule: a row is scored on the rows before it and itself, never on a
later row of its batch), against batch's published reference and against the live reservoir
(rebuilt within a batch)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from distillguard.online.normalize import normalize_record
from distillguard.online.replay import iter_records
from distillguard.online.scorer import OnlineScorer, text_features
from distillguard.scoring.model import BUILTIN

from .conftest import make_store

N_ROWS = 1500


@pytest.fixture(scope="module")
def rows(tiny_findings, tiny_data: Path) -> list[dict]:
    """The tiny world's first requests in time order, featurized once."""
    if not BUILTIN.is_file():
        pytest.skip("no shipped risk model in this tree")
    out = []
    for r in iter_records(tiny_data / "requests.jsonl.gz"):
        out.append(normalize_record(r))
        if len(out) >= N_ROWS:
            break
    out.sort(key=lambda r: (r["ts_ms"], r["request_id"]))
    feats, _ = text_features([dict(r) for r in out], None)
    return [r | f for r, f in zip(out, feats, strict=True)]


@pytest.fixture(autouse=True)
def _one_linkage_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both runs jitter linked risk with the same key (else each draws its own)."""
    monkeypatch.setenv("DISTILLGUARD_LINKAGE_SECRET", "decide-many")


def _scorer(store: Path | None, tmp: Path) -> OnlineScorer:
    data = tmp / "online"
    data.mkdir(parents=True, exist_ok=True)
    if store is not None:
        shutil.copy(store / "store" / "store.duckdb", data / "store.duckdb")
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump({"online": {"shadow": True}}))
    scorer = OnlineScorer(data, policy_path=policy, load_results=store is not None)
    scorer.event_time = True  # token buckets on the rows' clock: both runs see the same times
    return scorer


def _run(store: Path | None, tmp: Path, rows: list[dict], batch: int) -> tuple[list, dict, int]:
    scorer = _scorer(store, tmp)
    try:
        decided = []
        for i in range(0, len(rows), batch):
            chunk = [dict(r) for r in rows[i : i + batch]]
            decided += scorer.decide_many(chunk) if batch > 1 else [scorer.decide(chunk[0])]
        risk = scorer._account_risk()
        cache = {a: (r.risk, r.n_requests, r.evidence) for a, r in risk._cache.items()}
        assert list(risk._cache) == list(cache)  # the same LRU order too
        return [d.to_dict() for d in decided], cache, len(risk.reservoir.rows)
    finally:
        scorer.close()


def test_a_batch_decides_as_its_rows_one_at_a_time(tiny_findings, rows, tmp_path) -> None:
    one = _run(tiny_findings[0], tmp_path / "one", rows, 1)
    many = _run(tiny_findings[0], tmp_path / "many", rows, 256)
    for a, b in zip(one[0], many[0], strict=True):
        assert a == b, {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
    assert list(one[1].items()) == list(many[1].items())
    assert any(d["account_risk"] > 0 for d in one[0])


def test_the_reservoir_is_offered_and_rebuilt_in_row_order(rows, tmp_path, monkeypatch) -> None:
    import distillguard.online.risk as online_risk

    monkeypatch.setattr(online_risk, "MIN_RESERVOIR", 20)
    monkeypatch.setattr(online_risk, "RESERVOIR_REBUILD", 50)  # several rebuilds per batch
    one = _run(None, tmp_path / "one", rows, 1)
    many = _run(None, tmp_path / "many", rows, 256)
    assert one[2] >= 20  # ranked against the reservoir, not only the hand-set weights
    assert one == many


def test_the_compiled_model_scores_a_matrix_as_its_rows_one_at_a_time() -> None:
    """Chunked ``margin`` (more rows than one pass takes) gives every row's own floats."""
    from distillguard.policy import Policy
    from distillguard.scoring.compiled import _CHUNK, CompiledRiskModel
    from distillguard.scoring.model import evidence_groups, resolve

    if not BUILTIN.is_file():
        pytest.skip("no shipped risk model in this tree")
    model = CompiledRiskModel(resolve(Policy.from_dict({}, "<test>").scoring.risk_model))
    rng = np.random.default_rng(0)
    X = rng.random((2 * _CHUNK + 7, len(model.names)))
    X[rng.random(X.shape) < 0.2] = np.nan
    one = np.concatenate([model.margin(X[i : i + 1]) for i in range(len(X))])
    assert np.array_equal(model.margin(X), one)
    assert np.array_equal(model.log_odds(X), np.concatenate([model.log_odds(x[None]) for x in X]))
    # Reasons: a variant walks only the trees that split on its group, with the same floats.
    groups = [np.asarray(g, np.intp) for g in evidence_groups(model.names).values()]
    to = rng.random(len(model.names))
    got = model.variant_log_odds(X[:40], groups, to)
    for g, idx in enumerate(groups):
        variant = X[:40].copy()
        variant[:, idx] = to[idx]
        assert np.array_equal(got[:, g], model.log_odds(variant))


def _value(rng: np.random.Generator, op: str, value: object) -> object:
    """A feature value near a condition's: on either side of it, or one of its list."""
    if isinstance(value, list):
        return value[int(rng.integers(len(value)))] if rng.random() < 0.7 else "other"
    if isinstance(value, bool):
        return bool(rng.random() < 0.5)
    if isinstance(value, str):
        return value if rng.random() < 0.7 else "other"
    return float(value) * float(rng.choice([0.5, 1.0, 2.0, 10.0])) + float(rng.random() - 0.5)


def test_precheck_skips_only_rules_its_constant_features_fail(tmp_path) -> None:
    """The rules precheck skips (cached per policy version) match no precheck features: on
    many accounts' warm and cold feature sets, the same rules match as with all of them."""
    from distillguard.online import scorer as sc

    scorer = OnlineScorer(tmp_path / "data", None, state="memory")
    try:
        rules = scorer.policy.rules
        warm, cold = scorer._precheck_rules()
        assert len(warm) < len(rules) and len(cold) < len(rules)  # the default policy's
        rng = np.random.default_rng(1)
        matched: set[str] = set()
        for _ in range(2000):
            r = rng.random(4)
            cold_f = {
                "verdict": str(rng.choice(["attack", "own-attack", "review", "benign", "unknown"])),
                "verified": bool(r[2] > 0.5),
                "batch_risk": r[0],
                "in_cluster": bool(r[1] > 0.5),
                "cluster_id": "c" if r[1] > 0.5 else None,
                "cluster_verdict": str(rng.choice(["attack", "review", "none"])),
                "cluster_risk": r[2],
                "cluster_size": float(rng.integers(0, 50)),
                "account_risk": r[3],
                "risk": r[3],
                "org_id": None,
            }
            warm_f = {
                **{f: _value(rng, op, v) for rule in rules for f, op, v in rule.conditions},
                **cold_f,
                **sc._PRECHECK_REQUEST,
            }
            for f in (warm_f, cold_f):
                want = [x.name for x in rules if x.matches(f)]
                assert [x.name for x in (warm if f is warm_f else cold) if x.matches(f)] == want
                matched.update(want)
        assert len(matched) >= len(cold) + 2  # the kept rules do match here
    finally:
        scorer.close()


def test_a_template_names_its_attack_cluster_the_same_on_every_load(tmp_path) -> None:
    """Two clusters send a template's attack traffic equally: every load names the same one
    (the smallest id); the larger sender wins otherwise."""
    import duckdb

    from distillguard.online.verdicts import VerdictCache

    store = make_store(tmp_path / "data")
    con = duckdb.connect(str(store / "store.duckdb"))
    con.execute("CREATE TABLE requests(account_id VARCHAR, skeleton_hash UBIGINT)")
    con.execute("INSERT INTO templates VALUES (1, 't-tie'), (2, 't-big')")
    accts = [(f"x{i}", "attack", f"c-{i % 2}") for i in range(40)]
    con.executemany("INSERT INTO out_accounts VALUES (?, 0.9, ?, ?, '')", accts)
    # t-tie: 20 requests from each cluster; t-big: cluster c-1 sends 3 for c-0's 1
    con.executemany("INSERT INTO requests VALUES (?, 1)", [(a,) for a, _, _ in accts])
    con.executemany("INSERT INTO requests VALUES (?, 2)", [("x0",), ("x1",), ("x3",), ("x5",)])
    con.close()
    for _ in range(5):
        cache = VerdictCache.load(store)
        assert cache.template_attack["t-tie"] == (1.0, "c-0")
        assert cache.template_attack["t-big"] == (1.0, "c-1")
