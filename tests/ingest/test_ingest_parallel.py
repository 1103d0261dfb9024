"""Featurize in worker processes: same stored rows, same order, duplicates still caught."""

from __future__ import annotations

import collections

import pyarrow as pa
import pytest

from distillguard.corpora import load_texts
from distillguard.errors import InvalidParameterError
from distillguard.ingest import Store, parallel, readers

WRAPPERS = (
    "{q}",
    "Solve the following problem. Let's think step by step and show your reasoning.\n\n{q}",
    'Answer in JSON with fields "question" and "answer": {q}',
)


def _rows(st: Store) -> list[tuple]:
    # rowid order = insertion order: the pool must keep it
    return st.con.sql("SELECT * FROM requests ORDER BY rowid").fetchall()


@pytest.fixture
def real_log(make_log, rec, corpora_dir):
    """120 requests around real gsm8k problems and ShareGPT prompts, some wrapped."""
    texts = load_texts("tasks/gsm8k_train.jsonl.gz", corpora_dir, 60)
    texts += load_texts("benign/sharegpt.jsonl.gz", corpora_dir, 60)
    lines = []
    for i, t in enumerate(texts):
        msgs = [{"role": "user", "content": WRAPPERS[i % 3].format(q=t)}]
        if i % 4 == 0:
            msgs.insert(0, {"role": "system", "content": "You are a careful math tutor."})
        lines.append(rec(i, account=f"a{i % 7}", messages=msgs))
    return make_log("real.jsonl.gz", lines)


def _task_sizes(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """The row count of every task the pipeline sends to a worker, in order."""
    sizes: list[int] = []
    real = parallel.FeaturePipeline._send

    def spy(self, part, job):  # type: ignore[no-untyped-def]
        sizes.append(part.num_rows)
        real(self, part, job)

    monkeypatch.setattr(parallel.FeaturePipeline, "_send", spy)
    return sizes


def test_workers_store_identical_rows_in_the_same_order(tmp_path, real_log, monkeypatch):
    monkeypatch.setattr(readers, "BATCH_ROWS", 50)  # several batches per file
    with Store(tmp_path / "one") as st:
        r1 = st.ingest([real_log], workers=1)
        one = _rows(st)
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "TASK_ROWS", 23)  # many small tasks: the in-flight bound
    with Store(tmp_path / "two") as st:
        r2 = st.ingest([real_log], workers=2)
        two = _rows(st)
    assert r1.accepted == r2.accepted == len(one) == 120
    assert one == two


def test_small_batches_merge_into_fewer_tasks_with_the_same_rows(
    tmp_path, real_log, make_log, rec, monkeypatch
):
    # 10-record batches, tasks of up to 25 (merged up to 37): the first batch alone (it decides
    # whether the log is an access log), then 30 + 30 + 30 + 20 records
    monkeypatch.setattr(readers, "BATCH_ROWS", 10)
    with Store(tmp_path / "one") as st:
        st.ingest([real_log], workers=1)
        one = _rows(st)
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "TASK_ROWS", 25)
    sizes = _task_sizes(monkeypatch)
    with Store(tmp_path / "two") as st:
        st.ingest([real_log], workers=2)
        two = _rows(st)
    assert sizes == [10, 30, 30, 30, 20]
    assert one == two
    # a repeated id in another batch of the same task is still caught
    log = make_log("d.jsonl", [rec(i) for i in range(30)] + [rec(12), rec(99)])
    with Store(tmp_path / "d") as st:
        res = st.ingest([log], workers=2)
    assert (res.accepted, res.by_reason) == (31, {"duplicate_request_id": 1})


def test_a_batch_larger_than_the_merge_size_is_sliced(tmp_path, real_log, monkeypatch):
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "TASK_ROWS", 20)  # merge up to 30; one batch of 120
    monkeypatch.setattr(readers, "BATCH_ROWS", 60)
    sizes = _task_sizes(monkeypatch)
    with Store(tmp_path / "s") as st:
        assert st.ingest([real_log], workers=2).accepted == 120
    assert sizes == [60, 20, 20, 20]


def test_in_flight_bound_counts_tasks_and_rows(monkeypatch):
    monkeypatch.setattr(parallel, "TASK_ROWS", 10)
    pipe = parallel.FeaturePipeline(lambda raw, done: None, workers=1)
    pipe.workers = 2  # the bound alone: no pool is started

    def pending(*sizes):
        pipe._pending = collections.deque((pa.table({"x": [0] * n}), None) for n in sizes)
        return pipe._too_many_in_flight()

    assert not pending(15, 15, 15)  # one queued behind each worker, whatever their size
    assert pending(15, 15, 15, 15)  # 60 rows > 2 x 2 x 10
    assert not pending(10, 10, 10, 10)  # 40 rows: as before merging
    assert pending(1, 1, 1, 1, 1)  # more than 2 x workers tasks


def test_batches_of_other_types_are_not_merged(monkeypatch):
    sent: list[int] = []
    pipe = parallel.FeaturePipeline(lambda raw, done: None, workers=1)

    def record(self, part, job):  # type: ignore[no-untyped-def]
        sent.append(part.num_rows)

    monkeypatch.setattr(parallel.FeaturePipeline, "_send", record)
    job = parallel.prepare.BatchJob("SELECT 1", "f", True)
    pipe._pool = object()  # type: ignore[assignment]  # pooled path, nothing started
    pipe.submit(pa.table({"line": ["a"] * 3, "line_no": pa.array([1, 2, 3], pa.int64())}), job)
    pipe.submit(pa.table({"line": ["b"] * 2, "line_no": pa.array([4, 5], pa.int32())}), job)
    pipe.submit(pa.table({"line": ["c"] * 2, "line_no": pa.array([6, 7], pa.int32())}), job)
    pipe._send_merged()  # int64 line numbers alone, then the two int32 batches together
    pipe._pool = None
    assert sent == [3, 4]


def test_duplicates_across_batches_in_flight_are_quarantined(tmp_path, make_log, rec, monkeypatch):
    monkeypatch.setattr(readers, "BATCH_ROWS", 10)
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    # ids 0..29, then 5 of them again while earlier batches may still be in the workers
    log = make_log("d.jsonl", [rec(i) for i in range(30)] + [rec(i) for i in (3, 12, 25, 40, 41)])
    with Store(tmp_path / "s") as st:
        res = st.ingest([log], workers=2)
        n = st.con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchall()
    assert (res.accepted, res.quarantined) == (32, 3)
    assert res.by_reason == {"duplicate_request_id": 3}
    assert n == [(32, 32)]


def test_small_inputs_stay_in_process(tmp_path, make_log, rec):
    log = make_log("s.jsonl", [rec(i) for i in range(5)])
    seen = []
    real = parallel.FeaturePipeline.__init__

    def spy(self, *a, **k):
        real(self, *a, **k)
        seen.append(self.parallel)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel.FeaturePipeline, "__init__", spy)
        with Store(tmp_path / "s") as st:
            assert st.ingest([log], workers=2).accepted == 5
    assert seen == [False]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_worker_count_is_a_clear_error(tmp_path, make_log, rec, bad):
    log = make_log("s.jsonl", [rec(1)])
    with Store(tmp_path / "s") as st, pytest.raises(InvalidParameterError, match="workers"):
        st.ingest([log], workers=bad)


def test_the_forkserver_preloads_the_cli_only_when_it_runs():
    # Workers re-run the main script; under the `distillguard` script that is the whole CLI.
    import subprocess
    import sys

    code = "import sys; {}import distillguard.ingest.parallel as p; print(','.join(p._preload()))"
    plain = subprocess.run(
        [sys.executable, "-c", code.format("")], capture_output=True, text=True, check=True
    )
    cli = subprocess.run(
        [sys.executable, "-c", code.format("import distillguard.cli; ")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "distillguard.signals" in plain.stdout and "distillguard.cli" not in plain.stdout
    assert "distillguard.cli" in cli.stdout
