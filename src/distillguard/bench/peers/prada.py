"""PRADA (Juuti, Szyller, Marchal & Asokan, EuroS&P 2019), adapted to LLM prompts.

PRADA watches, per client, the minimum distance between each new query and the client's
earlier queries. Natural queries give a roughly normal distribution of these distances;
synthetic extraction queries (perturbations around seeds, grid-like coverage) do not. As in
the paper's Algorithm 1, the client keeps a growing set ``G``: a query joins ``G`` only when
its minimum distance to ``G`` exceeds the threshold ``T``, which is raised to
``max(T, mean(D) - std(D))`` as distances ``D`` accumulate. The Shapiro–Wilk statistic ``W``
of ``D`` is tested against ``delta``: ``W < delta`` flags the client.

Adaptation: the paper keeps one ``G`` per predicted class of an image classifier; an LLM has
no classes, so there is a single ``G`` per account. Queries are sentence embeddings (L2).
The paper needs ≥ 100 queries before testing; here the cap per account (sampling, see
:mod:`.sampling`) forces a lower minimum, ``min_queries`` (default 20). Accounts with fewer
prompts are not tested (risk 0, verdict ``benign``). ``risk = 1 - W`` (unsaturated, so the
ranking keeps every difference in W); the verdict uses ``delta``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy.stats import shapiro

from ..embed import encode_unique, get_embedder
from .base import Peer, accounts_table
from .sampling import sample_prompts

DEFAULT_CAPS = {"minilm": (64, 12_000), "hashing": (500, 100_000)}


def prada_distances(emb: np.ndarray) -> np.ndarray:
    """PRADA's minimum-distance sequence ``D`` for time-ordered unit embeddings."""
    n = len(emb)
    if n < 2:
        return np.zeros(0)
    gram = emb @ emb.T
    dist = np.sqrt(np.maximum(2.0 - 2.0 * gram, 0.0))  # L2 between unit vectors
    in_g = np.zeros(n, dtype=bool)
    in_g[0] = True
    d = np.empty(n - 1)
    threshold = 0.0
    s = s2 = 0.0
    for i in range(1, n):  # sequential by definition: G and T depend on earlier steps
        dmin = float(dist[i, in_g].min())
        d[i - 1] = dmin
        s += dmin
        s2 += dmin * dmin
        if dmin > threshold:
            in_g[i] = True
            k = i
            mean = s / k
            std = np.sqrt(max(s2 / k - mean * mean, 0.0))
            threshold = max(threshold, mean - std)
    return d


def shapiro_w(d: np.ndarray) -> float:
    """Shapiro–Wilk W of ``d``; a constant sequence (identical queries) counts as W = 0."""
    if len(d) < 3:
        return 1.0
    if np.ptp(d) < 1e-9:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about n > 5000 p-values: W is what we use
        return float(shapiro(d).statistic)


class PradaPeer(Peer):
    """PRADA per account over prompt embeddings.

    Parameters
    ----------
    embedder : ``"minilm"`` or ``"hashing"``.
    delta : Shapiro–Wilk threshold; ``W < delta`` flags.
    min_queries : fewest prompts for a test.
    cap : prompts sampled per account (default 64 for MiniLM, 500 for hashing).
    budget : total prompts embedded at most (default 12,000 for MiniLM, 100,000 for hashing).
    seed : sampling seed.
    """

    name = "prada"
    reference = "Juuti et al. 2019, PRADA: Protecting against DNN Model Stealing Attacks"
    uses_embedder = True

    def __init__(
        self,
        embedder: str = "hashing",
        delta: float = 0.90,
        min_queries: int = 20,
        cap: int | None = None,
        budget: int | None = None,
        seed: int = 0,
    ) -> None:
        self.embedder = embedder
        self.delta = delta
        self.min_queries = min_queries
        self.cap = cap
        self.budget = budget
        self.seed = seed

    def detect(self, logs: list[Path], accounts: Path | None = None) -> pa.Table:
        emb_model = get_embedder(self.embedder)
        cap0, budget0 = DEFAULT_CAPS[self.embedder]
        cap = self.cap or cap0
        budget = self.budget or budget0
        sample = sample_prompts(logs, cap, self.min_queries + 1, budget, self.seed)
        emb = encode_unique(emb_model, sample.sample_text)
        w_by_acc: dict[str, tuple[float, int]] = {}
        for acc, s, e in sample.groups():
            d = prada_distances(emb[s:e])
            w_by_acc[acc] = (shapiro_w(d), len(d))
        risk, verdict, reasons = [], [], []
        for acc in sample.account_ids:
            if acc not in w_by_acc:
                risk.append(0.0)
                verdict.append("benign")
                reasons.append("")
                continue
            w, n = w_by_acc[acc]
            risk.append(1.0 - w)
            flagged = w < self.delta
            verdict.append("attack" if flagged else "benign")
            reasons.append(
                f"PRADA: Shapiro-Wilk W={w:.3f} < {self.delta} over {n} query distances"
                if flagged
                else ""
            )
        self.notes_ = (
            f"embedder {self.embedder}; ≤{sample.cap} prompts/account (uniform sample, time "
            f"order); tested {len(w_by_acc)} of {len(sample.account_ids)} accounts "
            f"(≥{self.min_queries + 1} prompts); {len(sample.sample_text)} prompts embedded"
        )
        return accounts_table(sample.account_ids, risk, verdict, None, reasons)
