"""Evidence units: small estimators that each add a few account features.

A unit renders its SQL (the DuckDB/Spark common subset, ``engines.base.DIALECT_RULES``) over
``request_keys`` and ``account_meta``, runs it on any :class:`Engine`, and its last table (one
row per account: ``account_id`` and the unit's ``columns``) is joined onto
``account_features``. Cross-account units never build all pairs of accounts: they block by a
key (a time bucket and an action, a sign-up day, a parameter tuple) and count inside blocks.

The catalog (``scoring.catalog``) names the columns as evidence inputs; nothing else lists
them. Add a unit: write the class, then add it to :data:`UNITS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..engines.base import Engine
from ..errors import InvalidParameterError
from ._base import Estimator

MEDIAN = "median"


class EvidenceUnit(Estimator, ABC):
    """Base class: ``sql()`` → tables in order, the last one the result; ``fit`` runs them.

    Subclasses set ``name`` and ``columns``: feature → value for an account without data
    (no result row, or NULL): a number; ``None`` keeps it missing (e.g. no account table);
    ``MEDIAN`` gives it the deployment's median, i.e. no evidence either way to a model that
    ranks features within the deployment.

    Attributes
    ----------
    table_ : pa.Table, account_id and the unit's columns (accounts with a row only).
    """

    name: str = ""
    columns: dict[str, float | str | None] = {}

    def __init__(self) -> None:  # no parameters (so ``get_params`` is ``{}``)
        pass

    def _validate(self) -> None:
        """Check parameters (subclasses with numeric parameters override)."""

    @abstractmethod
    def sql(self) -> dict[str, str]:
        """Table name → SQL, in order; the last table is the unit's per-account result."""

    def output_columns(self) -> dict[str, float | str | None]:
        return dict(self.columns)

    def fit(self, engine: Engine) -> EvidenceUnit:
        """Run the unit's SQL on ``engine``; keep its per-account result as ``table_``."""
        self._validate()
        tables = self.sql()
        for table, sql in tables.items():
            engine.create_table(table, sql)
        cols = ", ".join(["account_id", *self.output_columns()])
        self.table_ = engine.fetch_arrow(f"SELECT {cols} FROM {list(tables)[-1]}")
        return self

    def join(self, features: pa.Table) -> pa.Table:
        """``features`` with the unit's columns appended, row order kept, gaps filled."""
        self._check_fitted("table_")
        ids = self.table_.column("account_id")
        pos = pc.index_in(features.column("account_id"), value_set=ids.combine_chunks())
        pos_np = np.asarray(pos.to_numpy(zero_copy_only=False), float)
        found = ~np.isnan(pos_np)
        idx = np.where(found, pos_np, 0).astype(np.int64)
        for name, fill in self.output_columns().items():
            raw = self.table_.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
            values = np.asarray(raw, float)[idx] if len(raw) else np.full(len(idx), np.nan)
            values = np.where(found, values, np.nan)
            values = np.where(np.isnan(values), _fill_value(values, fill), values)
            arr = pa.array(np.where(np.isnan(values), None, values).tolist(), pa.float64())
            features = features.append_column(name, arr)
        return features


def _fill_value(values: np.ndarray, fill: float | str | None) -> float:
    """The value for accounts without data (see ``EvidenceUnit``)."""
    if fill is None:
        return np.nan
    if fill == MEDIAN:
        known = values[~np.isnan(values)]
        return float(np.median(known)) if len(known) else np.nan
    return float(fill)


def check_positive_int(owner: object, name: str, value: object, low: int = 1) -> None:
    """Raise when ``value`` is not an integer ≥ ``low`` (SQL gets it as a literal)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidParameterError(
            f"{type(owner).__name__}.{name} must be an integer >= {low}; got {value!r}"
        )


def _rotation() -> EvidenceUnit:
    from .rotation import ProxyRotation

    return ProxyRotation()


def _signup_burst() -> EvidenceUnit:
    from .signup_burst import SignupBurst

    return SignupBurst()


def _shared_parameters() -> EvidenceUnit:
    from .param_tuples import SharedParameters

    return SharedParameters()


def _lockstep() -> EvidenceUnit:
    from ..coordination.lockstep import Lockstep

    return Lockstep()


def _lockstep_daily() -> EvidenceUnit:
    from ..coordination.lockstep import Lockstep

    # Slow campaigns (a few requests a day per account) meet on the same templates per day.
    return Lockstep(name="lockstep_daily", bucket_minutes=1440, action="template")


def _complementarity() -> EvidenceUnit:
    from ..coordination.complementarity import CoverageComplementarity

    return CoverageComplementarity()


def _harvest_circle() -> EvidenceUnit:
    from ..coordination.harvest_circle import HarvestCircle

    return HarvestCircle()


# The registered units, by name (lazy: coordination imports accounts).
UNITS: dict[str, Callable[[], EvidenceUnit]] = {
    "proxy_rotation": _rotation,
    "signup_burst": _signup_burst,
    "shared_parameters": _shared_parameters,
    "lockstep": _lockstep,
    "lockstep_daily": _lockstep_daily,
    "coverage_complementarity": _complementarity,
    "harvest_circle": _harvest_circle,
}
# Registered but not default (none today; harvest_circle became default once the random
# worlds' careful campaigns stopped carrying incidental traits: docs/experiments/harvest-circle.md).
EXPERIMENTAL_UNITS: tuple[str, ...] = ()
DEFAULT_UNITS: tuple[str, ...] = tuple(u for u in UNITS if u not in EXPERIMENTAL_UNITS)


def make_unit(name: str) -> EvidenceUnit:
    """The registered unit ``name`` with its default parameters."""
    if name not in UNITS:
        raise InvalidParameterError(f"unknown evidence unit {name!r}; choose from {list(UNITS)}")
    return UNITS[name]()
