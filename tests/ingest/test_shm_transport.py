"""Batches and results between the store and its workers through /dev/shm files (or bytes)."""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa

from distillguard.ingest import Store, parallel


def _table(n: int = 50) -> pa.Table:
    return pa.table({
        "line": pa.array([f'{{"k": "é{i}"}}' for i in range(n)], pa.large_string()),
        "line_no": pa.array(range(1, n + 1), pa.int64()),
    })


def test_file_round_trip_removes_the_file(tmp_path):
    t = _table().slice(7, 20)  # a slice: only its rows are written
    payload = parallel.pack(t, str(tmp_path))
    assert isinstance(payload, str) and os.path.exists(payload)
    back = parallel.unpack(payload)
    assert back.equals(t)
    assert not os.path.exists(payload) and os.listdir(tmp_path) == []


def test_a_batch_in_flight_is_held_as_its_mapped_file_not_a_heap_copy(tmp_path):
    t = _table(2000)
    payload = parallel.pack(t, str(tmp_path))
    before = pa.total_allocated_bytes()
    held = parallel._held(t, payload)
    parallel.unpack(payload)  # the worker maps the file and removes it
    assert not os.path.exists(payload)
    assert held.equals(t)  # the mapping outlives the unlink
    assert pa.total_allocated_bytes() == before  # no copy in this process's heap
    as_bytes = parallel.pack(t, None)
    assert parallel._held(t, as_bytes) is t  # no file: the batch itself


def test_no_folder_or_unwritable_folder_falls_back_to_bytes(tmp_path):
    t = _table()
    for folder in (None, str(tmp_path / "missing")):
        payload = parallel.pack(t, folder)
        assert isinstance(payload, bytes)
        assert parallel.unpack(payload).equals(t)


def test_a_full_folder_is_not_tried_again(tmp_path, monkeypatch):
    folder = str(tmp_path / "shm")
    os.mkdir(folder)
    real = parallel.pa.OSFile
    calls: list[str] = []

    def full(path, mode="r"):  # type: ignore[no-untyped-def]
        calls.append(path)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parallel.pa, "OSFile", full)
    t = _table()
    assert isinstance(parallel.pack(t, folder), bytes)
    assert isinstance(parallel.pack(t, folder), bytes)
    assert len(calls) == 1 and os.listdir(folder) == []  # the half-written file is gone
    monkeypatch.setattr(parallel.pa, "OSFile", real)
    assert isinstance(parallel.pack(t, str(tmp_path)), str)  # another folder is still used


def test_orphan_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "SHM_ROOT", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f"distillguard-{dead}-abc").mkdir()
    (tmp_path / f"distillguard-{dead}-abc" / "x.arrow").write_bytes(b"0" * 10)
    (tmp_path / f"distillguard-{os.getpid()}-live").mkdir()  # this process: kept
    (tmp_path / "other-123-x").mkdir()  # not ours: kept
    folder = parallel.shm_folder()
    assert folder is not None and os.path.dirname(folder) == str(tmp_path)
    left = sorted(os.listdir(tmp_path))
    assert f"distillguard-{dead}-abc" not in left
    assert f"distillguard-{os.getpid()}-live" in left and "other-123-x" in left


def test_a_folder_whose_owner_holds_its_lock_is_kept_whatever_its_process_id_says(
    tmp_path, monkeypatch
):
    """/dev/shm shared between containers: another namespace's live ingest has a process id
    that looks dead here. Its held lock keeps its folder; once released, the folder goes."""
    monkeypatch.setattr(parallel, "SHM_ROOT", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"d = {str(tmp_path)!r} + '/distillguard-{dead}-live'\n"
         "os.mkdir(d); fd = os.open(d + '/.owner', os.O_CREAT | os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = parallel.shm_folder()
        assert f"distillguard-{dead}-live" in os.listdir(tmp_path)
    finally:
        holder.communicate("")  # the holder exits: the kernel frees its lock
    parallel.release_folder(mine)
    again = parallel.shm_folder()
    assert os.listdir(tmp_path) == [os.path.basename(again)]
    parallel.release_folder(again)
    assert os.listdir(tmp_path) == []


def test_workers_leave_no_files_and_store_the_same_rows(tmp_path, monkeypatch, make_log, rec):
    monkeypatch.setattr(parallel, "SHM_ROOT", str(tmp_path / "shm"))
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "TASK_ROWS", 7)
    lines = [rec(i) for i in range(40)] + ['{"broken": ', rec(3)]
    log = make_log("a.jsonl", lines)
    seen: list[str | None] = []
    real = parallel.FeaturePipeline.__init__

    def spy(self, *a, **k):  # type: ignore[no-untyped-def]
        real(self, *a, **k)
        seen.append(self._folder)

    monkeypatch.setattr(parallel.FeaturePipeline, "__init__", spy)
    q = "SELECT * FROM requests ORDER BY source_line"
    bad = "SELECT line, reason, raw FROM quarantine ORDER BY line"
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        ra = a.ingest([log], workers=2)
        rb = b.ingest([log], workers=1)
        rows_a, rows_b = a.con.sql(q).fetchall(), b.con.sql(q).fetchall()
        bad_a, bad_b = a.con.sql(bad).fetchall(), b.con.sql(bad).fetchall()
    # the repeated id's raw text comes from the batch held (mapped) while the worker ran
    assert bad_a == bad_b
    dup = [w for _, r, w in bad_a if r == "duplicate_request_id"]
    assert len(dup) == 1 and '"request_id": "req-3"' in dup[0]
    assert seen[0] is not None and seen[0].startswith(str(tmp_path / "shm"))
    assert (ra.accepted, ra.quarantined) == (rb.accepted, rb.quarantined) == (40, 2)
    assert rows_a == rows_b
    assert os.listdir(tmp_path / "shm") == []


def test_access_log_through_workers(tmp_path, monkeypatch, make_log, rec):
    # a metadata-only batch comes back with a feature table of no columns: through a file too
    monkeypatch.setattr(parallel, "SHM_ROOT", str(tmp_path / "shm"))
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(parallel, "POOL_MIN_BYTES", 0)
    log = make_log("access.jsonl", [rec(i, messages=None) for i in range(30)])
    with Store(tmp_path / "s") as st:
        res = st.ingest([log], workers=2)
        n = st.con.execute("SELECT count(*), count(prompt_text) FROM requests").fetchall()[0]
    assert res.metadata_only and res.accepted == 30
    assert n[0] == 30
    assert os.listdir(tmp_path / "shm") == []
