"""The fast featurizer against the reference path on simulated traffic, bit for bit.

Reference: every phrase matched by its own ``pc.match_substring_regex`` (RE2) pass, the way
featurize matched before the single Hyperscan pass (issue 15). Both runs read the same rows:
the simulator's ``tiny`` preset (seed 7) and a random world (``--world random --seed 3``),
ingested on one process. ``RECORDED`` holds per-column digests of the featurizer's output on
those rows, taken with the code before issue 15; they are checked when the simulator still
produces the same input (its digest is recorded too).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from distillguard.contract import TEXT_FEATURE_SCHEMA
from distillguard.ingest import Store
from distillguard.signals import featurize, featurizer, multimatch

RECORDED = {
    "tiny-7": {  # re-recorded with the pre-issue-15 featurizer (0e5a254) on today's tiny-7
        "rows": 6238, "input": "f56b973a00c92b1c", "sig_cot": "8214c47313d83892",
        "sig_rubric": "724a3f1fdba9819d", "sig_synth": "37400f4bf430eca8",
        "sig_format": "e9eb547b30b8c001", "sig_rewrite": "8d657bfb47ea9a00",
        "signal_hits": "d792c03b45892e88", "capability": "1974b60366d0345a",
        "script": "7106c3d041f30a75", "prompt_hash": "a5ab42a2777db85c",
        "system_hash": "4404f236f4467a84", "skeleton_hash": "44180e9c66125d5d",
        "lsh_bands": "193fa44db24bcddb",
    },
    "random-3": {
        "rows": 6511, "input": "b816a379472e25ee", "sig_cot": "287afdb394e4d362",
        "sig_rubric": "05e66de2a3531795", "sig_synth": "90820b287abb21d1",
        "sig_format": "3f250839ab9240bb", "sig_rewrite": "834cd661fda147e6",
        "signal_hits": "40ffb5361189e9a3", "capability": "51068bb14debfffc",
        "script": "242b919f6ef64199", "prompt_hash": "3efa706bdc04c225",
        "system_hash": "58add926a4731bc2", "skeleton_hash": "81ab99a1d3163062",
        "lsh_bands": "567d5a6af58e134a",
    },
}


class PerPhraseRe2:
    """The reference matcher: one RE2 pass over the batch per pattern."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = patterns

    def match(self, text: pa.Array) -> np.ndarray:
        out = np.zeros((len(text), len(self.patterns)), dtype=bool)
        for j, pat in enumerate(self.patterns):
            out[:, j] = pc.match_substring_regex(text, pat).to_numpy(zero_copy_only=False)
        return out


def _digest(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def _input_rows(sim_dir: Path, tmp: Path) -> pa.Table:
    store = Store(tmp / "store")
    try:
        store.ingest([sim_dir / "requests.jsonl.gz"], workers=1, progress=None)
        return store.con.sql(
            "SELECT prompt_text, system_text, tools FROM requests ORDER BY request_id"
        ).to_arrow_table()
    finally:
        store.close()
        shutil.rmtree(tmp / "store", ignore_errors=True)


@pytest.fixture(scope="module")
def worlds(tiny_data: Path, random_world_3: Path, tmp_path_factory) -> dict[str, pa.Table]:
    tmp = tmp_path_factory.mktemp("equiv")
    return {"tiny-7": _input_rows(tiny_data, tmp), "random-3": _input_rows(random_world_3, tmp)}


@pytest.mark.parametrize("world", ["tiny-7", "random-3"])
def test_featurize_equals_the_per_phrase_reference(worlds, world, monkeypatch) -> None:
    rows = worlds[world]
    fast = featurize(rows)
    monkeypatch.setattr(multimatch, "matcher_for", PerPhraseRe2)
    monkeypatch.setattr(featurizer, "matcher_for", PerPhraseRe2)
    ref = featurize(rows)
    for field in TEXT_FEATURE_SCHEMA:
        assert fast.column(field.name).equals(ref.column(field.name)), (world, field.name)
    hits = pc.count(fast.column("signal_hits")).as_py()
    assert hits > 100, "the data must exercise the signals"  # not a vacuous comparison


@pytest.mark.parametrize("world", ["tiny-7", "random-3"])
def test_featurize_equals_the_recorded_pre_issue_15_output(worlds, world) -> None:
    rows, want = worlds[world], RECORDED[world]
    if rows.num_rows != want["rows"] or _digest(rows) != want["input"]:
        pytest.skip(f"the simulator's {world} input changed since the digests were recorded")
    out = featurize(rows)
    got = {f.name: _digest(out.select([f.name])) for f in TEXT_FEATURE_SCHEMA}
    assert got == {k: v for k, v in want.items() if k not in ("rows", "input")}
