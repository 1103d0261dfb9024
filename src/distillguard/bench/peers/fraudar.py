"""FRAUDAR (Hooi, Song, Beutel, Shah, Shin & Faloutsos, KDD 2016) on accounts × shared keys.

The bipartite graph links accounts to the keys they use: IP /24 (IPv6 /48) prefix, payment
fingerprint (request log and account table), and prompt skeletons: the hash of the first and
of the last six normalised words of a prompt (a template wraps its slot at one end or the
other), or of the whole normalised prompt when it is short. Edges are binary (the account used
the key) and carry FRAUDAR's camouflage-resistant column weight ``1 / log(deg(key) + 5)``.

Greedy peeling (the paper's algorithm): start from the whole graph and repeatedly remove the
node (account or key) whose removal costs the least weight, tracking the subset with the best
density ``g(S) = f(S) / |S|``; that subset is a dense block. Its accounts are removed and the
search repeats for up to ``max_blocks`` blocks, stopping when a block has fewer than
``min_accounts`` accounts or is no denser than ``min_ratio`` × the whole graph. Priorities
live in a binary heap with lazy deletion: O(E log V) per block.

Keys used by a single account cannot be shared evidence and are dropped before peeling (this
only removes nodes that a dense block would never keep). Block accounts get a cluster id and
``risk = 0.25 + 0.75 · r / (r + 1)`` with ``r`` the block's density over the graph's; other
accounts get ``0.25 · s / (s + 1)`` with ``s`` their weighted degree, so every block member
outranks every non-member. Verdict: ``attack`` when ``r ≥ attack_ratio``, ``review`` otherwise.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import sparse

from ..logs import open_requests
from .base import Peer, accounts_table

KEY_KINDS = {"ip": "IP prefix", "pay": "payment", "tpl": "prompt template"}


def peel(graph: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray, float]:
    """One FRAUDAR greedy pass on a weighted bipartite ``rows × cols`` matrix.

    Returns ``(row_mask, col_mask, density)`` of the densest subset found.
    """
    csr = graph.tocsr()
    csc = graph.tocsc()
    m, n = csr.shape
    row_pri = np.asarray(csr.sum(axis=1)).ravel().astype(float)
    col_pri = np.asarray(csc.sum(axis=0)).ravel().astype(float)
    start_alive = np.concatenate([row_pri > 0, col_pri > 0])  # isolated nodes: no weight
    total = float(csr.sum())
    size = int(start_alive.sum())
    if size == 0 or total <= 0:
        return np.zeros(m, bool), np.zeros(n, bool), 0.0
    # Plain Python lists: the loop below runs once per node and once per edge.
    alive = start_alive.tolist()
    pri = np.concatenate([row_pri, col_pri]).tolist()
    heap = [(pri[i], i) for i in np.flatnonzero(start_alive).tolist()]
    heapq.heapify(heap)
    best = total / size
    best_step = 0
    order: list[int] = []
    r_ptr, r_idx, r_dat = csr.indptr.tolist(), csr.indices.tolist(), csr.data.tolist()
    c_ptr, c_idx, c_dat = csc.indptr.tolist(), csc.indices.tolist(), csc.data.tolist()
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        p, node = pop(heap)
        if not alive[node] or p != pri[node]:
            continue  # a stale heap entry
        alive[node] = False
        order.append(node)
        total -= p
        size -= 1
        if node < m:
            for t in range(r_ptr[node], r_ptr[node + 1]):
                k = m + r_idx[t]
                if alive[k]:
                    pri[k] -= r_dat[t]
                    push(heap, (pri[k], k))
        else:
            c = node - m
            for t in range(c_ptr[c], c_ptr[c + 1]):
                i = c_idx[t]
                if alive[i]:
                    pri[i] -= c_dat[t]
                    push(heap, (pri[i], i))
        if size > 0:
            g = total / size
            if g > best:
                best, best_step = g, len(order)
    keep = np.zeros(m + n, dtype=bool)
    keep[order[best_step:]] = True
    return keep[:m], keep[m:], float(best)


def camouflage_weights(incidence: sparse.csr_matrix) -> sparse.csr_matrix:
    """Binary incidence → edge weights ``1 / log(deg(col) + 5)``."""
    deg = np.asarray((incidence > 0).sum(axis=0)).ravel()
    w = 1.0 / np.log(deg + 5.0)
    g = (incidence > 0).astype(float).tocsr()
    g = g @ sparse.diags(w)
    return g.tocsr()


def find_blocks(
    graph: sparse.csr_matrix, max_blocks: int = 20, min_accounts: int = 2, min_ratio: float = 1.0
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Repeated peeling: ``[(row_indices, col_indices, density), ...]``, densest first."""
    g = graph.tocsr().astype(float)
    m, n = g.shape
    base_size = int(
        (np.asarray(g.sum(1)).ravel() > 0).sum() + (np.asarray(g.sum(0)).ravel() > 0).sum()
    )
    base = float(g.sum()) / max(base_size, 1)
    blocks = []
    remaining = np.ones(m, dtype=bool)
    for _ in range(max_blocks):
        sub = (sparse.diags(remaining.astype(float)) @ g).tocsr()
        sub.eliminate_zeros()
        rows, cols, dens = peel(sub)
        if rows.sum() < min_accounts or base <= 0 or dens < min_ratio * base:
            break
        blocks.append((np.flatnonzero(rows), np.flatnonzero(cols), dens))
        remaining &= ~rows
    return blocks


class FraudarPeer(Peer):
    """FRAUDAR dense blocks on the accounts × (IP prefix, payment, template) graph.

    Parameters
    ----------
    max_blocks : blocks to extract at most.
    min_accounts : smallest block kept.
    min_ratio : a block must be this many times denser than the whole graph.
    attack_ratio : density ratio from which a block's verdict is ``attack``.
    words : words of the prompt's opening / closing used as a template skeleton.
    """

    name = "fraudar"
    reference = "Hooi et al. 2016, FRAUDAR: Bounding Graph Fraud in the Face of Camouflage"

    def __init__(
        self,
        max_blocks: int = 20,
        min_accounts: int = 3,
        min_ratio: float = 1.0,
        attack_ratio: float = 3.0,
        words: int = 6,
    ) -> None:
        self.max_blocks = max_blocks
        self.min_accounts = min_accounts
        self.min_ratio = min_ratio
        self.attack_ratio = attack_ratio
        self.words = words

    def edges(self, logs: list[Path], accounts: Path | None = None) -> dict[str, np.ndarray]:
        """Distinct ``(account_id, key)`` pairs; ``account_id`` of every account too."""
        w = int(self.words)
        con = open_requests(logs)
        try:
            pay_accounts = ""
            if accounts is not None and Path(accounts).is_file():
                cols = {
                    r[0]
                    for r in con.execute(
                        f"DESCRIBE SELECT * FROM read_csv('{accounts}', all_varchar=true)"
                    ).fetchall()
                }
                if "payment_fingerprint" in cols:
                    pay_accounts = f"""
                    UNION SELECT account_id, 'pay:' || payment_fingerprint AS key
                    FROM read_csv('{accounts}', all_varchar=true)
                    WHERE payment_fingerprint IS NOT NULL AND payment_fingerprint <> ''
                    """
            con.execute(
                f"""
                CREATE TEMP TABLE e AS
                WITH c AS (
                  -- Only the two ends of a long prompt matter for its skeleton keys: cut
                  -- the middle before the regular expression (the costly step).
                  SELECT account_id, ip_prefix, payment_fingerprint,
                    CASE WHEN length(prompt_text) <= 600 THEN prompt_text
                         ELSE left(prompt_text, 300) || ' ' || right(prompt_text, 300) END AS p
                  FROM requests
                ),
                t AS (
                  SELECT account_id, ip_prefix, payment_fingerprint,
                    list_filter(string_split(regexp_replace(lower(coalesce(p, '')),
                      '[\\p{{P}}\\p{{S}}\\d\\s]+', ' ', 'g'), ' '), lambda x: x <> '') AS w
                  FROM c
                ),
                k AS (
                  SELECT DISTINCT account_id, unnest([
                    'ip:' || ip_prefix,
                    'pay:' || payment_fingerprint,
                    CASE WHEN len(w) >= {2 * w} THEN 'tpl:pre:' || hash(array_to_string(w[1:{w}], ' ')) END,
                    CASE WHEN len(w) >= {2 * w} THEN 'tpl:suf:' || hash(array_to_string(w[-{w}:], ' ')) END,
                    CASE WHEN len(w) BETWEEN 1 AND {2 * w - 1} THEN 'tpl:all:' || hash(array_to_string(w, ' ')) END
                  ]) AS key
                  FROM t
                )
                SELECT account_id, key FROM k WHERE key IS NOT NULL
                {pay_accounts}
                """
            )
            all_acc = con.execute(
                "SELECT DISTINCT account_id FROM requests ORDER BY account_id"
            ).fetchnumpy()["account_id"]
            pairs = con.execute(
                """
                SELECT account_id, key FROM e
                WHERE key IN (SELECT key FROM e GROUP BY key HAVING count(DISTINCT account_id) >= 2)
                """
            ).fetchnumpy()
        finally:
            con.close()
        return {"accounts": all_acc, "account_id": pairs["account_id"], "key": pairs["key"]}

    def detect(self, logs: list[Path], accounts: Path | None = None) -> pa.Table:
        ed = self.edges(logs, accounts)
        acc = np.asarray(ed["accounts"], dtype=object)
        m = len(acc)
        pos = {a: i for i, a in enumerate(acc)}
        if len(ed["key"]) == 0:
            self.notes_ = "no key shared by two accounts"
            return accounts_table(acc, np.zeros(m), ["benign"] * m)
        keys, col = np.unique(np.asarray(ed["key"], dtype=object).astype(str), return_inverse=True)
        row = np.array([pos.get(a, -1) for a in ed["account_id"]])
        ok = row >= 0  # payment keys of accounts absent from the log are ignored
        inc = sparse.csr_matrix((np.ones(ok.sum()), (row[ok], col[ok])), shape=(m, len(keys)))
        graph = camouflage_weights(inc)
        size = int((np.asarray(graph.sum(1)).ravel() > 0).sum() + len(keys))
        base = float(graph.sum()) / max(size, 1)
        blocks = find_blocks(graph, self.max_blocks, self.min_accounts, self.min_ratio)
        risk = 0.25 * np.asarray(graph.sum(1)).ravel()
        risk = risk / (np.asarray(graph.sum(1)).ravel() + 1.0)
        verdict = np.array(["benign"] * m, dtype=object)
        cluster = np.array([""] * m, dtype=object)
        reasons = np.array([""] * m, dtype=object)
        for b, (rows, cols, dens) in enumerate(blocks, start=1):
            r = dens / base
            kinds = {}
            for k in keys[cols]:
                kind = k.split(":", 1)[0]
                kinds[kind] = kinds.get(kind, 0) + 1
            kind_txt = ", ".join(f"{KEY_KINDS.get(k, k)} {v}" for k, v in sorted(kinds.items()))
            risk[rows] = 0.25 + 0.75 * r / (r + 1.0)
            verdict[rows] = "attack" if r >= self.attack_ratio else "review"
            cluster[rows] = f"fraudar-{b}"
            reasons[rows] = (
                f"FRAUDAR dense block {b}: {len(rows)} accounts share {len(cols)} keys "
                f"({kind_txt}); density {dens:.2f} = {r:.1f}x the graph"
            )
        self.notes_ = (
            f"{m} accounts x {len(keys)} shared keys, {graph.nnz} edges; "
            f"{len(blocks)} blocks (min {self.min_accounts} accounts, ≥{self.min_ratio}x density)"
        )
        return accounts_table(acc, risk, verdict, cluster, reasons)
