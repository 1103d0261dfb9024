"""A small hand-built data set in the contract's format, for the bench's own tests.

It does not depend on the simulator (developed in parallel): benign accounts with real
prompts from ``../shared/corpora`` (a few built-in sentences when absent), one coordinated
campaign (shared /24 prefixes and payment, one prompt template over GSM8K questions, bursts
of requests), and one mixed account carrying both harvest and genuine requests.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np

FALLBACK_BENIGN = [
    "Can you help me plan a birthday party for my daughter who loves dinosaurs?",
    "What's the difference between a Roth IRA and a traditional IRA?",
    "Write a short poem about autumn leaves falling in the park.",
    "My sourdough starter smells like nail polish remover, is that normal?",
    "How do I politely decline a meeting invitation from my manager?",
    "Explain how vaccines train the immune system in simple terms.",
    "Suggest a three day itinerary for Lisbon on a budget.",
    "Why does my Python script say ModuleNotFoundError after I installed the package?",
    "What are some good stretches for lower back pain after sitting all day?",
    "Translate 'where is the train station' into Japanese and explain the grammar.",
]
FALLBACK_TASKS = [
    f"A farmer has {a} cows and buys {b} more. Each cow eats {c} kg of hay a day. "
    f"How much hay is needed for {d} days?"
    for a, b, c, d in [(3, 4, 5, 6), (10, 2, 7, 3), (8, 8, 2, 9), (12, 5, 3, 4), (6, 9, 4, 2)]
]
TEMPLATE = (
    "You are an expert tutor. Think step by step and write out your full internal reasoning "
    "before the final answer. Problem: {task} Return the reasoning and the answer as JSON."
)
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch ms


def _texts(corpora: Path | None) -> tuple[list[str], list[str]]:
    if corpora is not None:
        from distillguard.corpora import load_texts

        benign = load_texts("benign/sharegpt.jsonl.gz", corpora, limit=8000)
        benign = [t for t in benign if 20 <= len(t) <= 1500]
        tasks = load_texts("tasks/gsm8k_train.jsonl.gz", corpora, limit=600)
        return benign, tasks
    return FALLBACK_BENIGN, FALLBACK_TASKS


def make_dataset(
    out: Path,
    corpora: Path | None = None,
    n_benign: int = 60,
    n_attack: int = 12,
    seed: int = 3,
    parquet: bool = False,
) -> Path:
    """Write ``requests.jsonl.gz`` (or ``.parquet``), ``accounts.csv``, ``labels.csv`` and
    ``request_labels.csv`` into ``out``; returns ``out``."""
    rng = np.random.default_rng(seed)
    benign_texts, tasks = _texts(corpora)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    labels: list[tuple[str, int, str, str]] = []
    req_labels: list[tuple[str, int, str]] = []
    accounts: list[dict] = []

    def add(acc: str, ts: int, text: str, ip: str, pay: str, attack: bool) -> None:
        rid = f"r{len(records):06d}"
        records.append(
            {
                "request_id": rid,
                "ts": int(ts),
                "account_id": acc,
                "model": "m-large",
                "messages": [{"role": "user", "content": text}],
                "ip": ip,
                "user_agent": "python-httpx/0.27" if attack else "Mozilla/5.0",
                "payment_fingerprint": pay,
                "input_tokens": 40 + len(text) // 4,
                "output_tokens": 600 if attack else 200,
            }
        )
        req_labels.append((rid, int(attack), "c1" if attack else ""))

    for i in range(n_benign):
        acc = f"b{i:03d}"
        persona = "eval_runner" if i % 10 == 0 else "regular"
        n = int(rng.integers(25, 70))
        ts = T0 + np.sort(rng.integers(0, 3 * 86_400_000, n))
        start = 70 * i  # disjoint slices: benign users do not share prompts
        ip = f"{rng.integers(11, 200)}.{rng.integers(0, 255)}.{rng.integers(0, 255)}.7"
        for k in range(n):
            add(acc, ts[k], benign_texts[(start + k) % len(benign_texts)], ip, f"pay-{acc}", False)
        labels.append((acc, 0, "", persona))
        accounts.append({"account_id": acc, "payment_fingerprint": f"pay-{acc}"})
    for i in range(n_attack):
        acc = f"x{i:03d}"
        # Bursts: 80 requests within 70 s, round-robin over two /24 prefixes.
        ts = T0 + 3_600_000 * i + np.sort(rng.integers(0, 70_000, 80))
        for k in range(80):
            task = tasks[int(rng.integers(0, len(tasks)))]
            ip = f"203.0.{113 + k % 2}.{int(rng.integers(1, 250))}"
            add(acc, ts[k], TEMPLATE.format(task=task), ip, "pay-shared-1", True)
        labels.append((acc, 1, "c1", "attacker"))
        accounts.append({"account_id": acc, "payment_fingerprint": "pay-shared-1"})
    # One mixed account: a reseller with genuine traffic and harvest requests.
    acc = "mix01"
    for k in range(40):
        attack = k % 2 == 0
        text = (
            TEMPLATE.format(task=tasks[k % len(tasks)])
            if attack
            else benign_texts[(7 * k) % len(benign_texts)]
        )
        add(acc, T0 + 50_000 * k, text, "198.51.100.9", "pay-mix", attack)
    labels.append((acc, 1, "c1", "reseller"))
    accounts.append({"account_id": acc, "payment_fingerprint": "pay-mix"})

    if parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), out / "requests.parquet")
    else:
        with gzip.open(out / "requests.jsonl.gz", "wt", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r) + "\n")
    with open(out / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["account_id", "is_attack", "campaign_id", "persona"])
        w.writerows(labels)
    with open(out / "request_labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["request_id", "is_attack", "campaign_id"])
        w.writerows(req_labels)
    with open(out / "accounts.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["account_id", "payment_fingerprint"])
        w.writeheader()
        w.writerows(accounts)
    return out
