"""Benign-calibrated MMD window test (Liu, Guo & Dong 2026, "An embarrassingly simple
detector for model extraction attacks in LLM API traffic").

The paper embeds queries, compares a window of traffic with a reference sample of benign
traffic by the squared maximum mean discrepancy (RBF kernel, median-heuristic bandwidth),
and sets the threshold from benign-vs-benign comparisons only: the ``(1 - alpha)`` quantile
of MMD² between benign windows and the reference.

What the bench does, exactly (no labels are used anywhere):

- reference: ``n_reference`` prompts drawn uniformly from all traffic (the provider's
  history is mostly benign; attack traffic in it is contamination the method tolerates);
- bandwidth: the median pairwise L2 distance in the reference (median heuristic);
- window: an account's sampled prompts (≤ ``window`` of them); accounts with fewer than
  ``min_window`` prompts are not tested. Window sizes are bucketed to powers of two (4, 8,
  16, 32, …) by subsampling, so each bucket has its own null;
- null: for each bucket, windows of that size drawn from ``n_null`` accounts chosen at random
  among those with enough prompts (again unlabelled, i.e. "assumed benign"), each compared
  with the reference; the threshold is the ``(1 - alpha)`` quantile. A bucket with fewer
  than 20 such accounts uses windows drawn from pooled traffic instead.
- ``risk = s / (s + t)`` with ``s`` the account's MMD² and ``t`` its bucket's threshold
  (0.5 at the threshold); verdict ``attack`` above the ``1 - alpha`` quantile, ``review``
  above the ``1 - review_alpha`` quantile.

MMD² is the unbiased U-statistic for the window term and the plain mean for the cross and
reference terms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..embed import encode_unique, get_embedder
from .base import Peer, accounts_table
from .sampling import sample_prompts

DEFAULT_BUDGET = {"minilm": 12_000, "hashing": 100_000}
MIN_NULL_ACCOUNTS = 20


def rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """RBF kernel matrix ``exp(-gamma ||a - b||²)``."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.exp(-gamma * np.maximum(d2, 0.0))


def median_gamma(ref: np.ndarray) -> float:
    """``1 / (2 σ²)`` with σ the median pairwise distance of ``ref``."""
    d2 = (ref * ref).sum(1)[:, None] + (ref * ref).sum(1)[None, :] - 2.0 * ref @ ref.T
    iu = np.triu_indices(len(ref), 1)
    sigma = float(np.sqrt(np.median(np.maximum(d2[iu], 0.0))))
    return 1.0 / (2.0 * max(sigma, 1e-6) ** 2)


class MMDStat:
    """MMD² of windows against one fixed reference sample."""

    def __init__(self, ref: np.ndarray, gamma: float) -> None:
        self.ref = ref
        self.gamma = gamma
        kyy = rbf(ref, ref, gamma)
        m = len(ref)
        self.yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))

    def __call__(self, x: np.ndarray) -> float:
        n = len(x)
        kxx = rbf(x, x, self.gamma)
        xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        xy = rbf(x, self.ref, self.gamma).mean()
        return float(xx - 2.0 * xy + self.yy)


def bucket_of(n: int, min_window: int, window: int) -> int:
    """The largest power of two in [min_window, window] that is ≤ n (0 if n < min_window)."""
    if n < min_window:
        return 0
    b = 1 << int(np.floor(np.log2(min(n, window))))
    return max(b, min_window)


class _Windows:
    """Random windows of the sampled prompts' embeddings, drawn from one generator; a reference
    set uniform over all of them is drawn first."""

    def __init__(self, emb: np.ndarray, rng: np.random.Generator, n_reference: int) -> None:
        n_total = len(emb)
        ref_idx = rng.choice(n_total, size=min(n_reference, n_total), replace=False)
        self.emb, self.rng = emb, rng
        self.ref_mask = np.zeros(n_total, dtype=bool)
        self.ref_mask[ref_idx] = True
        self.ref = emb[ref_idx]

    def of(self, s: int, e: int, size: int) -> np.ndarray:
        """``size`` prompts of rows ``s:e``, preferring prompts outside the reference so that a
        window is not compared with itself."""
        idx = np.arange(s, e)
        outside = idx[~self.ref_mask[idx]]
        pool = outside if len(outside) >= size else idx
        return self.emb[self.rng.choice(pool, size=size, replace=False)]

    def pooled(self, size: int) -> np.ndarray:
        """``size`` prompts of the pooled traffic outside the reference (all, when too few)."""
        pool = np.flatnonzero(~self.ref_mask)
        pool = pool if len(pool) >= size else np.arange(len(self.emb))
        return self.emb[self.rng.choice(pool, size=size, replace=False)]


class MMDPeer(Peer):
    """Per-account MMD² window test, benign-calibrated without labels.

    Parameters
    ----------
    embedder : ``"minilm"`` or ``"hashing"``.
    alpha : false-positive level of the ``attack`` threshold.
    review_alpha : level of the ``review`` threshold.
    window : prompts per account window (sample cap).
    min_window : fewest prompts for a test.
    n_reference : reference sample size.
    n_null : null windows per bucket.
    budget : total prompts embedded at most (default 12,000 for MiniLM, 100,000 for hashing).
    seed : sampling seed.
    """

    name = "mmd"
    reference = "Liu, Guo & Dong 2026, An Embarrassingly Simple Detector for Model Extraction"
    uses_embedder = True

    def __init__(
        self,
        embedder: str = "hashing",
        alpha: float = 0.01,
        review_alpha: float = 0.05,
        window: int = 32,
        min_window: int = 4,
        n_reference: int = 512,
        n_null: int = 300,
        budget: int | None = None,
        seed: int = 0,
    ) -> None:
        self.embedder = embedder
        self.alpha = alpha
        self.review_alpha = review_alpha
        self.window = window
        self.min_window = min_window
        self.n_reference = n_reference
        self.n_null = n_null
        self.budget = budget
        self.seed = seed

    def detect(self, logs: list[Path], accounts: Path | None = None) -> pa.Table:
        rng = np.random.default_rng(self.seed)
        emb_model = get_embedder(self.embedder)
        budget = self.budget or DEFAULT_BUDGET[self.embedder]
        sample = sample_prompts(logs, self.window, self.min_window, budget, self.seed)
        emb = encode_unique(emb_model, sample.sample_text)
        groups = sample.groups()
        if len(emb) < 2 * self.min_window or not groups:
            self.notes_ = f"embedder {self.embedder}; too few prompts to test"
            n = len(sample.account_ids)
            return accounts_table(sample.account_ids, np.zeros(n), ["benign"] * n)
        # Reference: uniform over all sampled traffic (no labels).
        windows = _Windows(emb, rng, self.n_reference)
        stat = MMDStat(windows.ref, median_gamma(windows.ref))
        sizes = {acc: e - s for acc, s, e in groups}
        buckets = sorted({bucket_of(n, self.min_window, self.window) for n in sizes.values()} - {0})
        order = rng.permutation(len(groups))
        thresholds = {b: self._threshold(stat, windows, [groups[i] for i in order], b)
                      for b in buckets}
        scores: dict[str, tuple[float, int]] = {}
        for acc, s, e in groups:
            b = bucket_of(e - s, self.min_window, self.window)
            if b:
                scores[acc] = (stat(windows.of(s, e, b)), b)
        risk, verdict, reasons = self._verdicts(sample.account_ids, scores, thresholds)
        self.notes_ = (
            f"embedder {self.embedder}; reference {len(windows.ref)} prompts uniform over "
            f"traffic; windows ≤{sample.cap} prompts/account, buckets {buckets}; null per bucket "
            f"from random unlabelled accounts ({', '.join(t[2] for t in thresholds.values())}); "
            f"tested {len(scores)} of {len(sample.account_ids)} accounts"
        )
        return accounts_table(sample.account_ids, risk, verdict, None, reasons)

    def _threshold(
        self, stat: MMDStat, windows: _Windows, shuffled: list[tuple[str, int, int]], b: int
    ) -> tuple[float, float, str]:
        """The ``attack`` and ``review`` thresholds of window size ``b``, from the statistic's
        null over random accounts' windows (pooled traffic when too few accounts are big enough)."""
        null_groups = [g for g in shuffled if g[2] - g[1] >= b][: self.n_null]
        if len(null_groups) >= MIN_NULL_ACCOUNTS:
            null = [stat(windows.of(s, e, b)) for _, s, e in null_groups]
            how = f"{len(null)} account windows"
        else:
            null = [stat(windows.pooled(b)) for _ in range(self.n_null)]
            how = f"{len(null)} pooled-traffic windows"
        return (
            float(np.quantile(null, 1 - self.alpha)),
            float(np.quantile(null, 1 - self.review_alpha)),
            how,
        )

    def _verdicts(
        self, account_ids: list[str], scores: dict[str, tuple[float, int]],
        thresholds: dict[int, tuple[float, float, str]],
    ) -> tuple[list[float], list[str], list[str]]:
        risk, verdict, reasons = [], [], []
        for acc in account_ids:
            if acc not in scores:
                risk.append(0.0)
                verdict.append("benign")
                reasons.append("")
                continue
            s_val, b = scores[acc]
            t_attack, t_review, _ = thresholds[b]
            risk.append(max(s_val, 0.0) / (max(s_val, 0.0) + max(t_attack, 1e-12)))
            v = "attack" if s_val > t_attack else "review" if s_val > t_review else "benign"
            verdict.append(v)
            reasons.append(
                f"MMD²={s_val:.4f} vs benign-calibrated threshold {t_attack:.4f} "
                f"(window {b}, alpha {self.alpha})"
                if v != "benign"
                else ""
            )
        return risk, verdict, reasons
