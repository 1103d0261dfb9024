"""Fixtures for the signal tests: real text from ../shared/corpora (skipped when absent)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from distillguard.corpora import load, load_texts

BENIGN = {
    "sharegpt": "benign/sharegpt.jsonl.gz",
    "alpaca_eval": "benign/alpaca_eval_prompts.jsonl.gz",
    "hh_rlhf": "benign/hh_rlhf_test.jsonl.gz",
    "oasst2": "benign/oasst2_users.jsonl.gz",
}


@pytest.fixture(scope="session")
def benign(corpora_dir: Path) -> dict[str, list[str]]:
    """Real benign prompts per corpus."""
    return {name: load_texts(rel, corpora_dir) for name, rel in BENIGN.items()}


@pytest.fixture(scope="session")
def gsm8k(corpora_dir: Path) -> list[str]:
    """200 real grade-school math questions (fixed sample)."""
    qs = load_texts("tasks/gsm8k_train.jsonl.gz", corpora_dir)
    return random.Random(3).sample(qs, 200)


@pytest.fixture(scope="session")
def codegen(corpora_dir: Path) -> list[str]:
    """100 real coding instructions (gpteacher codegen)."""
    qs = load_texts("tasks/gpteacher_codegen.jsonl.gz", corpora_dir)
    return random.Random(4).sample(qs, 100)


@pytest.fixture(scope="session")
def hh_questions(corpora_dir: Path) -> list[str]:
    """Real first turns of HH red-team dialogues (many ask for harmful things)."""
    return [t for t in load_texts(BENIGN["hh_rlhf"], corpora_dir) if len(t) > 25][:150]


@pytest.fixture(scope="session")
def alpaca_pairs(corpora_dir: Path) -> list[tuple[str, str]]:
    """(instruction, reference response) pairs from alpaca_eval."""
    recs = load(BENIGN["alpaca_eval"], corpora_dir)
    return [(r["text"], r["response"]) for r in recs if r.get("response")][:120]
