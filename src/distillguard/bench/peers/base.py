"""What every peer detector shares: a small estimator-style base and the contract writer."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ...contract import OUTPUT_ACCOUNT_COLUMNS, VERDICTS

ACCOUNTS_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("risk", pa.float64()),
        ("verdict", pa.string()),
        ("cluster_id", pa.string()),
        ("reasons", pa.string()),
    ]
)


class Peer:
    """A published detector re-implemented for the bench.

    ``__init__`` only stores parameters (scikit-learn style); :meth:`detect` reads the
    request log and returns the contract's ``accounts.csv`` as an Arrow table. After
    ``detect``, ``notes_`` says how the run sampled or calibrated (recorded in the bench).
    """

    name: ClassVar[str] = "peer"
    reference: ClassVar[str] = ""
    uses_embedder: ClassVar[bool] = False

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their values."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    def detect(self, logs: list[Path], accounts: Path | None = None) -> pa.Table:
        """Score every account in ``logs``; returns the contract accounts table."""
        raise TypeError(f"{type(self).__name__} does not implement detect()")


def accounts_table(
    account_id: np.ndarray | list,
    risk: np.ndarray | list,
    verdict: np.ndarray | list,
    cluster_id: np.ndarray | list | None = None,
    reasons: np.ndarray | list | None = None,
) -> pa.Table:
    """The contract accounts table; risk clipped to [0, 1], verdicts checked."""
    n = len(account_id)
    r = np.clip(np.nan_to_num(np.asarray(risk, dtype=float), nan=0.0), 0.0, 1.0)
    v = [str(x) for x in verdict]
    bad = set(v) - set(VERDICTS)
    if bad:
        raise ValueError(f"unknown verdict(s): {sorted(bad)}")
    return pa.table(
        {
            "account_id": pa.array([str(a) for a in account_id], pa.string()),
            "risk": pa.array(r, pa.float64()),
            "verdict": pa.array(v, pa.string()),
            "cluster_id": pa.array(
                [""] * n if cluster_id is None else [str(c) for c in cluster_id], pa.string()
            ),
            "reasons": pa.array(
                [""] * n if reasons is None else [str(x) for x in reasons], pa.string()
            ),
        },
        schema=ACCOUNTS_SCHEMA,
    )


def write_accounts(table: pa.Table, out_dir: str | Path) -> Path:
    """Write ``accounts.csv`` (contract columns, in order) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "accounts.csv"
    pacsv.write_csv(table.select(list(OUTPUT_ACCOUNT_COLUMNS)), path)
    return path


def squash(ratio: np.ndarray) -> np.ndarray:
    """Map a non-negative ratio to [0, 1): 1 → 0.5 (the limit), monotone."""
    r = np.maximum(np.asarray(ratio, dtype=float), 0.0)
    return r / (1.0 + r)
