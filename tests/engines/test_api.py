"""``distillguard.detect(source)``: paths, pandas, Polars and Arrow give the same findings,
as Arrow tables with ``.to_pandas()``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest

import distillguard
from distillguard.contract import OUTPUT_ACCOUNT_COLUMNS, OUTPUT_REQUEST_COLUMNS


@pytest.fixture(scope="module")
def records(tiny_data: Path) -> list[dict]:
    with gzip.open(tiny_data / "requests.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _verdicts(f: distillguard.Findings) -> dict[str, str]:
    t = f.accounts
    return dict(zip(t.column("account_id").to_pylist(), t.column("verdict").to_pylist(),
                    strict=True))


@pytest.mark.slow
def test_paths_pandas_polars_and_arrow_agree(tiny_data, records, tmp_path):
    import pandas as pd
    import polars as pl

    from_path = distillguard.detect(tiny_data / "requests.jsonl.gz", store=tmp_path / "s")
    assert isinstance(from_path.accounts, pa.Table)
    assert tuple(from_path.accounts.column_names) == OUTPUT_ACCOUNT_COLUMNS
    assert tuple(from_path.requests.column_names) == OUTPUT_REQUEST_COLUMNS
    assert from_path.evidence.num_rows > 0
    assert "attack" in set(_verdicts(from_path).values())
    assert from_path.accounts.to_pandas().shape[0] == from_path.accounts.num_rows
    assert (tmp_path / "s" / "store.duckdb").exists()  # a named store is kept

    # ``reasoning`` mixes effort names and token budgets: one Arrow column needs one type.
    rows = [{**r, "reasoning": str(r["reasoning"])} if "reasoning" in r else r for r in records]
    frame = pd.DataFrame.from_records(rows)
    for source in (frame, pl.from_pandas(frame), pa.Table.from_pandas(frame)):
        got = distillguard.detect(source)
        assert _verdicts(got) == _verdicts(from_path), type(source)
        assert got.summary["counts"]["requests_accepted"] == len(records)


def test_mixed_content_frame_and_bad_source(tmp_path):
    import pandas as pd

    rows = [
        {"request_id": f"r{i}", "ts": 1_714_564_800_000 + i * 60_000, "account_id": "a",
         "model": "m", "messages": [{"role": "user", "content": "hello there" if i % 2 else
                                     [{"type": "text", "text": "parts form"}]}]}
        for i in range(6)
    ]
    got = distillguard.detect(pd.DataFrame(rows), out=tmp_path / "out")
    assert got.summary["counts"]["requests_accepted"] == 6
    assert (tmp_path / "out" / "report.html").exists()
    assert "accounts=1" in repr(got)
    with pytest.raises(distillguard.errors.InvalidInputError):
        distillguard.detect(42)
