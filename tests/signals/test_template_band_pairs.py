"""Band keys repeated inside one skeleton's list count once, with or without the fast path."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from distillguard.signals import templates as template_module
from distillguard.signals.templates import TemplateIndex, lists_with_repeats

LIST = pa.list_(pa.uint64())


def test_lists_with_repeats_finds_each_repeat() -> None:
    lists = pa.array(
        [[1, 2, 3], [4, 4], [5, 6, 5, 7], [], None, [9], [8, 1, 2, 8], [3, 2, 1]], LIST
    )
    assert lists_with_repeats(lists).tolist() == [
        False, True, True, False, False, False, True, False,
    ]
    # a slice and chunks read the right values (offsets into the shared value buffer)
    assert lists_with_repeats(lists.slice(1, 3)).tolist() == [True, True, False]
    chunked = pa.chunked_array([lists.slice(0, 3), lists.slice(3)])
    assert lists_with_repeats(chunked).tolist() == lists_with_repeats(lists).tolist()


def test_lists_with_repeats_takes_the_exact_path_for_null_keys() -> None:
    lists = pa.array([[1, None], [2, 3], None], LIST)
    assert lists_with_repeats(lists).tolist() == [True, True, False]


def test_lists_with_repeats_random_against_python() -> None:
    rng = np.random.default_rng(7)
    rows = [
        rng.integers(0, 40, size=int(rng.integers(0, 12))).astype(np.uint64).tolist()
        for _ in range(2_000)
    ]
    expected = [len(set(r)) != len(r) for r in rows]
    assert lists_with_repeats(pa.array(rows, LIST)).tolist() == expected


def _grouped(skeletons: list[int], bands: list[list[int]]) -> tuple[list, list]:
    con = duckdb.connect()
    con.register(
        "_f",
        pa.table({"skeleton_hash": pa.array(skeletons, pa.uint64()), "lsh_bands": pa.array(bands, LIST)}),
    )
    con.execute("CREATE TABLE requests AS SELECT * FROM _f")
    con.unregister("_f")
    stats = TemplateIndex(con, max_bucket=100).update()
    templates = con.execute("SELECT * FROM templates ORDER BY ALL").fetchall()
    band_rows = con.execute("SELECT * FROM template_bands ORDER BY ALL").fetchall()
    stats.pop("seconds")
    return templates + [tuple(sorted(stats.items()))], band_rows


@pytest.mark.parametrize("batch_rows", [65_536, 2])  # lists checked in one batch, or in three
@pytest.mark.parametrize("repeat_at", [0, 2, 4])
def test_a_repeated_key_groups_as_if_listed_once(repeat_at: int, batch_rows: int, monkeypatch) -> None:
    monkeypatch.setattr(template_module, "REPEAT_CHECK_ROWS", batch_rows)
    # five skeletons sharing key 7 (a bucket of 5) and a few keys of their own
    bands = [[7, 100 + i, 200 + i] for i in range(5)] + [[300, 301]]
    skeletons = [11, 12, 13, 14, 15, 16]
    once = _grouped(skeletons, bands)
    twice = [list(b) for b in bands]
    twice[repeat_at] = twice[repeat_at] + [7, 100 + repeat_at]  # keys repeated in one list
    assert _grouped(skeletons, twice) == once
    # the grouping itself: the five share one template, the sixth stays alone
    templates = dict(once[0][:-1])
    assert len({templates[s] for s in skeletons[:5]}) == 1 and templates[16] == 16
