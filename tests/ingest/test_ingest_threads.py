"""With featurize workers, the store appends on one DuckDB thread; its setting comes back."""

from __future__ import annotations

import pytest

from distillguard.ingest import Store, parallel


@pytest.mark.parametrize("threads", [None, 2])
def test_threads_one_while_workers_run_then_restored(tmp_path, monkeypatch, make_log, rec, threads):
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    log = make_log("a.jsonl", [rec(i) for i in range(30)])
    seen: list[int] = []
    with Store(tmp_path / "s", threads=threads) as st:
        before = st.con.sql("SELECT current_setting('threads')").fetchall()[0][0]
        real = st._store_prepared

        def spy(raw, done):  # type: ignore[no-untyped-def]
            seen.append(st.con.sql("SELECT current_setting('threads')").fetchall()[0][0])
            return real(raw, done)

        monkeypatch.setattr(st, "_store_prepared", spy)
        # the pipeline holds the bound method it was given: patch before ingest builds it
        res = st.ingest([log], workers=2)
        after = st.con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    assert res.accepted == 30
    assert seen and set(seen) == {1}
    assert after == before
