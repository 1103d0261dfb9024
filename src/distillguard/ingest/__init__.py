"""ingest stage: read request logs (JSONL, .gz, Parquet), validate, quarantine, store.

>>> from distillguard.ingest import Store          # doctest: +SKIP
>>> store = Store("./distillguard-data")           # doctest: +SKIP
>>> store.ingest([Path("logs/")], accounts=Path("accounts.csv"))  # doctest: +SKIP
"""

from .readers import discover, iter_records, sniff
from .store import DEFAULT_STORE, IngestResult, Store, fingerprint

__all__ = [
    "DEFAULT_STORE",
    "IngestResult",
    "Store",
    "discover",
    "fingerprint",
    "iter_records",
    "sniff",
]
