"""ingest stage: read request logs, validate, quarantine, store.

Files: JSON Lines (.gz), Parquet, CSV, .json documents; records in the contract or in a
gateway's own format (``formats``: LiteLLM, OpenAI, Anthropic, OTel GenAI, Helicone, Langfuse,
Kong), and PostgreSQL tables read incrementally (``postgres``).

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
