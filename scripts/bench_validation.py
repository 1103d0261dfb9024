"""CPU of ingest validation alone, per record, on one request log (the reader's batches
through ``prepare.validate_batch``); writes the validated rows as Arrow IPC for comparing two
versions of the code with ``pyarrow.Table.equals``.

    PYTHONPATH=src python scripts/bench_validation.py LOG OUT.arrow
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa

from distillguard.ingest import prepare, readers, validate


def main(log: str, out: str) -> None:
    con = prepare.connect()
    source = readers.discover([Path(log)])[0]
    sql = validate.request_sql("__dg_raw", log, True, None, within_batch_dedup=False)
    results, cpu, rows, quarantined = [], 0.0, 0, 0
    for raw in readers.iter_records(source, lambda n: None, ("ts",)):
        for off in range(0, raw.num_rows, 16384):
            batch = raw.slice(off, 16384)
            t0 = time.process_time()
            res = prepare.validate_batch(con, sql, batch, log, True)
            cpu += time.process_time() - t0
            rows += batch.num_rows
            quarantined += res.num_rows - res.column("reason").null_count
            results.append(res)
    table = pa.concat_tables(results).combine_chunks()
    with pa.OSFile(out, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
        writer.write_table(table)
    print(f"validation {cpu:.2f} CPU-s, {rows} records, {quarantined} quarantined, "
          f"{cpu * 1e6 / max(rows, 1):.1f} µs per record")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
