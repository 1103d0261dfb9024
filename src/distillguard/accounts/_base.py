"""The small scikit-learn-style estimator contract shared by accounts, coordination, scoring.

``__init__`` only stores keyword arguments; ``fit`` learns and sets attributes ending in ``_``;
``get_params`` introspects the ``__init__`` signature so ``summary.json`` can record every run.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import InvalidParameterError, NotFittedError


class Estimator:
    """Base class: parameter introspection, ``set_params``, fitted-state checks."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Change parameters; unknown names are an error."""
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise InvalidParameterError(
                    f"{type(self).__name__} has no parameter {key!r}; allowed: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def _check_fitted(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit() before using it"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def check_range(owner: object, name: str, value: Any, low: float, high: float | None) -> None:
    """Raise a clear InvalidParameterError when ``value`` is not a number in [low, high]."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and value >= low and (high is None or value <= high)
    if not ok:
        hi = "inf" if high is None else f"{high:g}"
        raise InvalidParameterError(
            f"{type(owner).__name__}.{name} must be a number in [{low:g}, {hi}]; got {value!r}"
        )


def table_exists(engine: object, name: str) -> bool:
    """Whether ``name`` can be read, by reading zero rows of it.

    Used instead of ``Engine.has_table``: a zero-row probe works on every engine and leaves no
    half-read result behind on the connection.
    """
    try:
        engine.fetch_arrow(f"SELECT * FROM {name} LIMIT 0")  # type: ignore[attr-defined]
    except Exception:
        return False
    return True
