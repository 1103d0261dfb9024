"""distillguard: find and stop distillation attacks on LLM APIs.

>>> import distillguard                                   # doctest: +SKIP
>>> findings = distillguard.detect("logs/")              # doctest: +SKIP
>>> findings.accounts.to_pandas()                        # doctest: +SKIP
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Findings", "__version__", "detect"]


def __getattr__(name: str) -> Any:
    # The API pulls in the whole pipeline: imported on first use, so ``distillguard``
    # itself (and its command line) stays quick to import.
    if name in ("detect", "Findings"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'distillguard' has no attribute {name!r}")
