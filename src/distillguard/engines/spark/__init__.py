"""The Apache Spark engine: the same detection, the same definitions, on a cluster.

Nothing here re-implements a feature: request validation is the embedded ingest's SQL and text
features are ``signals.featurize``, both run inside ``mapInArrow``; account features, the
graph and scoring are ``scoring.analyze`` on a :class:`SparkEngine`. What is Spark-specific is
reading a lake (:mod:`.reading`), distributed template grouping (:mod:`.templates`), connected
components without GraphFrames (:mod:`.graph`) and the driver/executor crossover of the graph
clustering (:mod:`.cluster`). pyspark is imported lazily: importing this package never needs it.

>>> from distillguard.engines.spark import detect            # doctest: +SKIP
>>> detect(["s3a://lake/requests/day=2026-11-26/"], out=Path("findings"),
...        store="s3a://lake/distillguard", master=None)       # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...ingest import DEFAULT_STORE


def detect(
    logs: list[str | Path],
    out: Path,
    accounts: Path | None = None,
    store: str | Path = DEFAULT_STORE,
    policy: Any = None,
    retain_content: bool = True,
    progress: bool = True,
    redact: bool = False,
    master: str | None = "local[2]",
    **kwargs: Any,
) -> dict[str, Any]:
    """Run the whole pipeline on Spark (see :func:`.pipeline.detect`); returns the summary."""
    from .pipeline import detect as _detect

    return _detect(logs, out, accounts=accounts, store=store, policy=policy,
                   retain_content=retain_content, progress=progress, redact=redact,
                   master=master, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "SparkEngine":
        from .engine import SparkEngine

        return SparkEngine
    if name == "spark_session":
        from .session import spark_session

        return spark_session
    if name == "connected_components":
        from .graph import connected_components

        return connected_components
    raise AttributeError(name)


__all__ = ["SparkEngine", "connected_components", "detect", "spark_session"]
