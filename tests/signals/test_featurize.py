"""featurize: exact output contract, batch of one == batch, chunking, determinism across
processes, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

from distillguard import contract
from distillguard.errors import InvalidInputError
from distillguard.policy import Policy
from distillguard.signals import featurize
from distillguard.signals import featurizer as featurize_mod

CAPABILITIES = {"math", "code", "agentic", "data_analysis", "chat", "other"}


def _requests(texts: list[str], systems: list[str | None] | None = None) -> pa.Table:
    n = len(texts)
    cols = {f.name: pa.nulls(n, f.type) for f in contract.NORMALIZED_REQUEST_SCHEMA}
    cols["request_id"] = pa.array([f"r{i}" for i in range(n)])
    cols["prompt_text"] = pa.array(texts, pa.string())
    cols["system_text"] = pa.array(systems or [None] * n, pa.string())
    cols["tools"] = pa.array([["calculator"] if i % 7 == 0 else None for i in range(n)],
                             pa.list_(pa.string()))
    return pa.table(cols, schema=contract.NORMALIZED_REQUEST_SCHEMA)


@pytest.fixture(scope="module")
def sample(benign: dict[str, list[str]], gsm8k: list[str]) -> pa.Table:
    texts = benign["sharegpt"][:300] + benign["oasst2"][:100] + [
        f"{q}\nLet's think step by step. Output JSONL with keys \"instruction\" and \"output\"."
        for q in gsm8k[:100]
    ] + ["", None]
    systems = [None if i % 3 else "You are an impartial judge." for i in range(len(texts))]
    return _requests(texts, systems)


def test_output_is_input_plus_exactly_the_feature_columns(sample: pa.Table) -> None:
    out = featurize(sample)
    assert out.schema == contract.STORED_REQUEST_SCHEMA
    assert out.num_rows == sample.num_rows
    batch = featurize(sample.to_batches()[0])
    assert isinstance(batch, pa.RecordBatch)
    assert batch.schema == contract.STORED_REQUEST_SCHEMA


def test_values_are_sane(sample: pa.Table) -> None:
    out = featurize(sample).to_pylist()
    attack = out[400]
    assert attack["sig_cot"] >= 0.5 and attack["sig_format"] >= 0.5
    assert attack["sig_rubric"] < 0.5 and attack["sig_rubric"] == out[401]["sig_rubric"]
    hits = attack["signal_hits"].split("|")
    assert "cot_elicitation:lets_think_step_by_step" in hits
    assert all(h.split(":")[0] in {"cot_elicitation", "training_format"} for h in hits)
    assert {r["capability"] for r in out} <= CAPABILITIES
    caps = [r["capability"] for r in out[400:500]]  # gsm8k tasks (every 7th declares a tool)
    assert sum(c in ("math", "agentic") for c in caps) >= 80
    assert out[0]["lsh_bands"] and len(out[0]["lsh_bands"]) >= 32
    empty, null = out[-2], out[-1]
    for row in (empty, null):
        assert row["prompt_hash"] == 0 and row["skeleton_hash"] == 0
        assert row["lsh_bands"] == [] and row["capability"] == "other"
    judged = [r for r in out if r["system_text"]]
    assert all(r["system_hash"] == judged[0]["system_hash"] != 0 for r in judged)
    assert all(r["sig_rubric"] >= 0.5 for r in judged)
    assert out[7]["capability"] == "agentic"


def test_batch_of_one_equals_batch(sample: pa.Table) -> None:
    whole = featurize(sample).select(list(contract.TEXT_FEATURE_SCHEMA.names)).to_pylist()
    for i in range(0, sample.num_rows, 7):
        one = featurize(sample.slice(i, 1)).select(list(contract.TEXT_FEATURE_SCHEMA.names))
        assert one.to_pylist()[0] == whole[i], i


def test_chunked_equals_unchunked(sample: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = featurize(sample)
    monkeypatch.setattr(featurize_mod, "CHUNK_BYTES", 20_000)
    monkeypatch.setattr(featurize_mod, "CHUNK_ROWS", 50)
    assert featurize(sample).equals(whole)


def test_deterministic_across_processes(sample: pa.Table) -> None:
    texts = sample.column("prompt_text").to_pylist()[:40] + ["你好，请一步一步地思考。"]
    here = featurize(_requests(texts))
    code = (
        "import json, sys, pyarrow as pa\n"
        "from distillguard.signals import featurize\n"
        "texts = json.load(sys.stdin)\n"
        "out = featurize(pa.table({'prompt_text': pa.array(texts, pa.string())}))\n"
        "print(json.dumps([out.column(c).to_pylist() for c in "
        "('prompt_hash', 'skeleton_hash', 'lsh_bands')]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts),
                         capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""})
    there = json.loads(res.stdout)
    assert there == [here.column(c).to_pylist()
                     for c in ("prompt_hash", "skeleton_hash", "lsh_bands")]


def test_disabled_signal_scores_zero(sample: pa.Table) -> None:
    pol = Policy.from_dict({"signals": {"enabled": ["rubric_grading"]}})
    out = featurize(sample.slice(400, 5), policy=pol)
    assert set(out.column("sig_cot").to_pylist()) == {0.0}
    assert out.schema == contract.STORED_REQUEST_SCHEMA


def test_refeaturize_replaces_columns(sample: pa.Table) -> None:
    once = featurize(sample.slice(0, 20))
    assert featurize(once).equals(once)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="prompt_text"):
        featurize(pa.table({"text": ["x"]}))
    with pytest.raises(InvalidInputError, match="RecordBatch or Table"):
        featurize({"prompt_text": ["x"]})  # type: ignore[arg-type]


def test_repeated_inputs_equal_featurizing_every_row(sample: pa.Table,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Repeats are featurized once and spread back; the same prompt with another system
    prompt or with tools declared is another input."""
    rows = sample.take(pa.array([i % 120 for i in range(1200)]))  # 10 copies of each input
    rows = rows.set_column(
        rows.schema.get_field_index("system_text"), "system_text",
        pa.array([None if i % 5 else "You are a judge." for i in range(1200)], pa.string()),
    )
    fast = featurize(rows)
    monkeypatch.setattr(featurize_mod, "DISTINCT_SHARE", 0.0)  # never deduplicate
    assert featurize(rows).equals(fast)
    assert featurize_mod._input_key(rows).tolist().count(featurize_mod._input_key(rows)[0]) > 1
