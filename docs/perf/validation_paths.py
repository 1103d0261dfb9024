"""Validation alone over a whole request log: the DuckDB query only (``prepare.sql_batch``)
against the Arrow path plus the query for the rest (``prepare.validate_batch``), alternated in
one process; CPU seconds and µs per record (issue 15, ninth session).

    PYTHONPATH=src python docs/perf/validation_paths.py LOG [ROUNDS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from distillguard.ingest import prepare, readers, validate


def main(log: str, rounds: int) -> None:
    source = readers.discover([Path(log)])[0]
    raws = list(readers.iter_records(source, lambda n: None, ("ts",)))
    n = sum(r.num_rows for r in raws)
    con = prepare.connect()
    sql = validate.request_sql("__dg_raw", log, True, None, within_batch_dedup=False)
    paths = (("query", prepare.sql_batch), ("arrow+query", prepare.validate_batch))
    for _, fn in paths:  # prepared statements and the result schema: not timed
        fn(con, sql, raws[0], log, True)
    for rnd in range(rounds):
        for label, fn in paths:
            t0 = time.process_time()
            for raw in raws:
                fn(con, sql, raw, log, True)
            cpu = time.process_time() - t0
            print(f"round {rnd + 1} {label:12s} {cpu:6.2f} CPU-s {cpu * 1e6 / n:6.2f} µs/record "
                  f"({n} records, {len(raws)} batches)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
