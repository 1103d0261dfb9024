"""MinHash in cache-sized blocks against the one-shot reference."""

from __future__ import annotations

import numpy as np

from distillguard.signals.sketch import _perm_params, minhash


def reference_minhash(sh: np.ndarray, first: np.ndarray, a: np.ndarray, b: np.ndarray
                      ) -> np.ndarray:
    with np.errstate(over="ignore"):
        hv = sh[:, None] * a[None, :] + b[None, :]
        hv ^= hv >> np.uint64(32)
    return np.minimum.reduceat(hv, first, axis=0)


def test_minhash_equals_the_reference_across_block_boundaries() -> None:
    rng = np.random.default_rng(2)
    sizes = rng.integers(1, 60, size=500)
    sizes[::50] = 3000  # groups larger than a block
    sh = rng.integers(0, 2**63, size=int(sizes.sum()), dtype=np.uint64) * np.uint64(2)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    a, b = _perm_params(64)
    got = minhash(sh, first, a, b)
    assert got.shape == (500, 64)
    assert (got == reference_minhash(sh, first, a, b)).all()
