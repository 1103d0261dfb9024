"""The review cap on operator labels (issue 11 §4): labels may raise an account to `review`,
never to `attack` on their own.

A deployment adapter (``RiskModel.adapt``) fitted on a few labels of one campaign shifts the
risk of every account near the line (docs/experiments/operator-labels.md): honest accounts
rose to `attack` with no evidence of their own behind the rise. A false ban is a real harm,
so the verdict reads the adapted risk capped just below the attack line unless the
un-adapted model already put the account at `attack`; an account the operator labelled
attack is at `attack` by its label. Batch (``LearnedAccountScorer``) and online
(``CompiledRiskModel``) both read risk through :func:`label_capped`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RAISED_TO_REVIEW = "raised by operator labels to review"  # the reasons a reviewer reads
LABELLED_ATTACK = "labelled attack by the operator"


def label_capped(
    adapted: np.ndarray,
    unadapted: np.ndarray,
    attack_line: float,
    labelled_attack: np.ndarray | None = None,
) -> np.ndarray:
    """The risk a verdict reads from an adapted model: ``adapted`` where the un-adapted model
    already says `attack` (labels may still lower it), else at most just below
    ``attack_line``; at least ``attack_line`` for accounts labelled attack (bool mask)."""
    adapted, unadapted = np.asarray(adapted, float), np.asarray(unadapted, float)
    below = np.nextafter(attack_line, 0.0)
    risk = np.where(unadapted >= attack_line, adapted, np.minimum(adapted, below))
    if labelled_attack is not None and labelled_attack.any():
        risk = np.where(labelled_attack, np.maximum(risk, attack_line), risk)
    return risk


def labelled_mask(
    ids: Sequence[str] | pa.Array | pa.ChunkedArray | None, labelled: Collection[str], n: int
) -> np.ndarray:
    """Which of ``ids`` the operator labelled attack (all False without ids or labels): an
    Arrow column (batch) in one ``is_in``, a few ids (online) by set lookups, which cost
    ~1 µs where ``np.isin`` on strings costs ~0.5 ms a call."""
    if ids is None or not labelled:
        return np.zeros(n, bool)
    if isinstance(ids, pa.Array | pa.ChunkedArray):
        found = pc.is_in(ids, value_set=pa.array(sorted(labelled), ids.type))
        return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), bool)
    return np.fromiter((a in labelled for a in ids), bool, n)


def raised_to_review(risk: np.ndarray, adapted: np.ndarray, attack_line: float) -> np.ndarray:
    """The accounts the cap held at `review`: the adapter alone put them at `attack`."""
    return (np.asarray(adapted) >= attack_line) & (np.asarray(risk) < attack_line)
