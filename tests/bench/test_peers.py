"""Each peer fires on a small attack-like pattern and stays quiet on benign traffic."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from distillguard.bench.logs import find_logs
from distillguard.bench.metrics import account_metrics, load_accounts
from distillguard.bench.peers import PEERS, make_peer, write_accounts
from distillguard.bench.peers.fraudar import camouflage_weights, find_blocks, peel
from distillguard.bench.peers.mmd import MMDStat, bucket_of, median_gamma
from distillguard.bench.peers.prada import prada_distances, shapiro_w
from distillguard.bench.peers.sampling import effective_cap
from distillguard.contract import OUTPUT_ACCOUNT_COLUMNS
from distillguard.errors import InvalidParameterError


def _run(name: str, data: Path, tmp_path: Path) -> dict:
    peer = make_peer(name, "hashing")
    table = peer.detect(find_logs(data), data / "accounts.csv")
    path = write_accounts(table, tmp_path / name)
    assert tuple(table.column_names) == OUTPUT_ACCOUNT_COLUMNS
    assert table.num_rows == 73  # every account of the log, exactly once
    assert set(table.column("verdict").to_pylist()) <= {"benign", "review", "attack"}
    risk = np.asarray(table.column("risk"))
    assert risk.min() >= 0 and risk.max() <= 1
    return account_metrics(load_accounts(path, data / "labels.csv"))


def test_rate_limit_flags_bursts_only(bench_data: Path, tmp_path: Path) -> None:
    m = _run("rate_limit", bench_data, tmp_path)
    # The 12 bursting accounts exceed 60 req/min; the slow mixed account and benign do not.
    assert m["attack_recall"] == pytest.approx(12 / 13)
    assert m["attack_fpr"] == 0.0
    assert m["roc_auc"] > 0.95


def test_isolation_forest_ranks_attackers_high(bench_data: Path, tmp_path: Path) -> None:
    m = _run("isolation_forest", bench_data, tmp_path)
    assert m["roc_auc"] > 0.85
    assert m["attack_fpr"] <= 0.02


def test_fraudar_clusters_the_campaign(bench_data: Path, tmp_path: Path) -> None:
    m = _run("fraudar", bench_data, tmp_path)
    c1 = m["campaigns"]["c1"]
    # The 12 coordinated accounts form one pure block; the mixed account shares no key.
    assert c1["in_pure_clusters"] == pytest.approx(12 / 13)
    assert c1["mean_purity"] == 1.0
    assert m["flag_fpr"] == 0.0
    assert m["recall_at_fpr_1%"]["recall"] >= 12 / 13


def test_mmd_separates_templated_windows(bench_data: Path, tmp_path: Path) -> None:
    m = _run("mmd", bench_data, tmp_path)
    assert m["roc_auc"] > 0.9
    assert m["attack_fpr"] <= 0.05


def test_prada_peer_runs_on_the_log(bench_data: Path, tmp_path: Path) -> None:
    m = _run("prada", bench_data, tmp_path)
    assert m["n_missing"] == 0 and not np.isnan(m["roc_auc"])


def test_fraudar_finds_planted_dense_block() -> None:
    rng = np.random.default_rng(0)
    m, n = 400, 3000
    rows = np.repeat(np.arange(m), 6)
    cols = rng.integers(0, n, size=len(rows))  # noise: 6 random keys per account
    block_rows = np.arange(30)
    block_cols = np.arange(n, n + 8)  # 30 accounts all share 8 keys
    br, bc = np.meshgrid(block_rows, block_cols, indexing="ij")
    inc = sparse.csr_matrix(
        (np.ones(len(rows) + br.size), (np.r_[rows, br.ravel()], np.r_[cols, bc.ravel()])),
        shape=(m, n + 8),
    )
    blocks = find_blocks(camouflage_weights(inc), max_blocks=3, min_accounts=3)
    assert blocks, "no block found"
    found_rows, found_cols, _ = blocks[0]
    assert set(found_rows) == set(block_rows)
    assert set(block_cols) <= set(found_cols)


def test_fraudar_peel_is_fast_on_10k_accounts() -> None:
    rng = np.random.default_rng(1)
    m, n, per = 10_000, 100_000, 8
    rows = np.repeat(np.arange(m), per)
    cols = rng.integers(0, n, size=len(rows))
    inc = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, n))
    t0 = time.perf_counter()
    peel(camouflage_weights(inc))
    assert time.perf_counter() - t0 < 20


def test_prada_statistic_on_synthetic_embeddings() -> None:
    rng = np.random.default_rng(0)
    natural = rng.normal(size=(120, 32))
    natural /= np.linalg.norm(natural, axis=1, keepdims=True)
    # Synthetic attack: 4 seeds, each followed by many tiny perturbations of itself.
    seeds = rng.normal(size=(4, 32))
    attack = np.vstack([s + 0.02 * rng.normal(size=(30, 32)) for s in seeds])
    attack /= np.linalg.norm(attack, axis=1, keepdims=True)
    w_nat = shapiro_w(prada_distances(natural))
    w_att = shapiro_w(prada_distances(attack))
    assert w_nat > 0.95
    assert w_att < 0.6
    assert shapiro_w(np.zeros(30)) == 0.0  # identical queries: maximally non-normal


def test_prada_separates_perturbation_family_from_real_text(corpora_dir: Path) -> None:
    from distillguard.bench.embed import MiniLMEmbedder
    from distillguard.corpora import load_texts

    texts = [
        t for t in load_texts("benign/sharegpt.jsonl.gz", corpora_dir, 1200) if 20 <= len(t) <= 600
    ]
    tasks = load_texts("tasks/gsm8k_train.jsonl.gz", corpora_dir, limit=4)
    rng = np.random.default_rng(0)
    family = [
        re.sub(r"\d+", lambda _: str(rng.integers(10, 999)), s) for s in tasks for _ in range(10)
    ]
    family = [family[i] for i in rng.permutation(len(family))]
    emb = MiniLMEmbedder(max_length=64)  # the openings suffice here; halves the cost
    w_family = shapiro_w(prada_distances(emb.encode(family)))
    w_natural = [
        shapiro_w(prada_distances(emb.encode(texts[k * 40 : (k + 1) * 40]))) for k in range(3)
    ]
    assert w_family < 0.9  # flagged at the default delta
    assert w_family < min(w_natural)


def test_mmd_statistic_grows_with_shift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 16))
    stat = MMDStat(ref, median_gamma(ref))
    same = stat(rng.normal(size=(32, 16)))
    shifted = stat(rng.normal(loc=1.0, size=(32, 16)))
    assert abs(same) < 0.05 < shifted
    assert [bucket_of(n, 4, 32) for n in (3, 4, 7, 8, 31, 100)] == [0, 4, 4, 8, 16, 32]


def test_sampling_cap_fits_budget() -> None:
    counts = np.array([1, 5, 50, 500, 5000])
    assert effective_cap(counts, 64, 4, None) == 64
    cap = effective_cap(counts, 500, 4, 300)
    assert np.minimum(counts[counts >= 4], cap).sum() <= 300
    assert np.minimum(counts[counts >= 4], cap + 1).sum() > 300


def test_registry_and_unknown_peer() -> None:
    assert set(PEERS) == {"rate_limit", "isolation_forest", "prada", "mmd", "fraudar"}
    assert make_peer("prada", "minilm").get_params()["embedder"] == "minilm"
    with pytest.raises(InvalidParameterError, match="unknown peer"):
        make_peer("nope")
