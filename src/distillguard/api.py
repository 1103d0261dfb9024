"""The Python API for notebooks: ``distillguard.detect(source) -> Findings``.

>>> import distillguard                                         # doctest: +SKIP
>>> f = distillguard.detect("logs/")                           # doctest: +SKIP
>>> f.accounts.to_pandas().query("verdict == 'attack'")        # doctest: +SKIP

``source`` is what ``distillguard detect`` reads (files, folders, a ``postgresql://`` URL) or
a table in memory: pandas, Polars or Arrow, with the contract's columns or a gateway's. The
run is the embedded pipeline; the findings come back as Arrow tables.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import InvalidInputError
from .policy import Policy

Source = Any  # str | Path | list of them | pandas.DataFrame | polars.DataFrame | pa.Table


@dataclass(frozen=True)
class Findings:
    """What a detect run found, as Arrow tables (``.to_pandas()`` on each).

    ``accounts``: one row per account (``contract.OUTPUT_ACCOUNT_COLUMNS``); ``clusters``:
    one row per coordinated cluster; ``requests``: scored requests that carry signals;
    ``evidence``: every piece of evidence behind a verdict (subject, source, weight, summary,
    refs); ``summary``: the run's ``summary.json``.
    """

    accounts: pa.Table
    clusters: pa.Table
    requests: pa.Table
    evidence: pa.Table
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        by = self.summary.get("accounts_by_verdict", {})
        return (
            f"Findings(accounts={self.accounts.num_rows}, attack={by.get('attack', 0)}, "
            f"review={by.get('review', 0)}, clusters={self.clusters.num_rows}, "
            f"requests={self.requests.num_rows}, mode={self.summary.get('mode')!r})"
        )


def _in_memory_table(source: Any) -> pa.Table | None:
    """An Arrow table for a pandas / Polars / Arrow source; ``None`` for paths."""
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    module = type(source).__module__.split(".")[0]
    if module == "polars":
        return source.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(source, preserve_index=False)
    return None


def _write_frame(source: Any, folder: Path) -> Path:
    """An in-memory table as a file the readers take: Parquet, or JSON Lines when its
    columns mix types Arrow cannot hold in one column (``content`` as text and as parts)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        table = _in_memory_table(source)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        path = folder / "frame.jsonl"
        records = source.to_dict("records")  # pandas: the only frame Arrow can refuse
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in records))
        return path
    path = folder / "frame.parquet"
    pq.write_table(table, path)
    return path


def _sources(source: Source, work: Path) -> list[Path | str]:
    if isinstance(source, (str, Path)):
        return [source]
    if isinstance(source, (list, tuple)):
        return [s for item in source for s in _sources(item, work)]
    try:
        return [_write_frame(source, work / "frames")]
    except AttributeError as exc:
        raise InvalidInputError(
            "source must be a path, a postgresql:// URL, a list of them, or a pandas, Polars "
            f"or Arrow table; got {type(source).__name__}"
        ) from exc


def _read_findings(store: Path, out: Path, summary: dict[str, Any]) -> Findings:
    import duckdb

    con = duckdb.connect(str(store / "store.duckdb"), read_only=True)
    try:
        tables = {
            name: con.sql(f"SELECT * FROM {name}").to_arrow_table()
            for name in ("out_accounts", "out_clusters", "out_requests", "evidence")
        }
    finally:
        con.close()
    return Findings(
        accounts=tables["out_accounts"],
        clusters=tables["out_clusters"],
        requests=tables["out_requests"],
        evidence=tables["evidence"],
        summary=summary,
    )


def detect(
    source: Source,
    accounts: str | Path | None = None,
    policy: Policy | str | Path | None = None,
    store: str | Path | None = None,
    log_format: str = "auto",
    assume_tz: str = "UTC",
    out: str | Path | None = None,
) -> Findings:
    """Run detection on ``source`` and return the :class:`Findings`.

    ``store`` keeps the DuckDB store between calls (incremental, as on the command line);
    ``None`` runs in a temporary store. ``policy`` is a :class:`Policy` or a YAML path.
    ``out`` also writes the output files (``report.html``, CSVs) there; without it no report
    is built (it would be thrown away with the temporary folder). Raises
    :class:`~distillguard.errors.NoRecordsError` when no record is usable.
    """
    from .engines.embedded import detect as run
    from .ingest.postgres import resolve_source

    pol = policy if isinstance(policy, Policy) else Policy.load(policy)
    with tempfile.TemporaryDirectory(prefix="distillguard-") as tmp:
        work = Path(tmp)
        store_dir = Path(store) if store is not None else work / "store"
        logs = [resolve_source(p, store_dir) for p in _sources(source, work)]
        out_dir = Path(out) if out is not None else work / "out"
        summary = run(
            logs, out=out_dir, accounts=Path(accounts) if accounts else None, store=store_dir,
            policy=pol, progress=False, log_format=log_format, assume_tz=assume_tz,
            report=out is not None,
        )
        return _read_findings(store_dir, out_dir, summary)
