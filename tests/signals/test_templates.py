"""Templates: 2,000 prompts from a few wrappers (with paraphrases) around real gsm8k payloads
map to a few templates, benign ShareGPT prompts mostly stay singletons, incremental updates
join yesterday's templates, and no all-pairs structure is built."""

from __future__ import annotations

import random
from collections import Counter

import duckdb
import pyarrow as pa
import pytest

from distillguard.corpora import load_texts
from distillguard.errors import InvalidInputError
from distillguard.signals import TemplateIndex, featurize, template_spread

# Wrappers as harvesting scripts write them; lists are paraphrase variants of one wrapper.
WRAPPERS = [
    ["Solve the following math problem. Think step by step and show your full reasoning "
     "before the final answer.\n\n{q}",
     "Solve this math problem. Think step by step and show all your reasoning before giving "
     "the final answer.\n\n{q}",
     "Please solve the following math problem: think step-by-step and show your complete "
     "reasoning before the final answer.\n{q}"],
    ['{q}\n\nReturn a JSON object with fields "question", "reasoning" and "answer". Do not add '
     "any other text.",
     '{q}\n\nRespond with a JSON object containing the fields "question", "reasoning" and '
     '"answer". No other text.'],
    ["You are a math tutor. A student asks:\n\"{q}\"\nExplain the solution clearly, then state "
     "the final numeric answer on the last line as 'Answer: <number>'."],
    ["请一步一步地思考下面的数学题，并写出完整的推理过程，最后给出答案。\n{q}"],
    ["### Instruction:\nSolve the grade school math problem below.\n### Input:\n{q}\n"
     "### Response:\nLet's think step by step."],
]
N_ATTACK = 2000


def _table(texts: list[str], accounts: list[str], t0: int = 0) -> pa.Table:
    n = len(texts)
    return pa.table({
        "request_id": [f"r{t0 + i}" for i in range(n)],
        "ts_ms": pa.array(range(t0, t0 + n), pa.int64()),
        "account_id": accounts,
        "prompt_text": pa.array(texts, pa.string()),
    })


@pytest.fixture(scope="module")
def corpus(corpora_dir) -> dict:
    rng = random.Random(5)
    gsm = load_texts("tasks/gsm8k_train.jsonl.gz", corpora_dir)
    rng.shuffle(gsm)
    texts, truth = [], []
    for i in range(N_ATTACK):
        w = i % len(WRAPPERS)
        texts.append(rng.choice(WRAPPERS[w]).format(q=gsm[i]))
        truth.append(w)
    benign = rng.sample(load_texts("benign/sharegpt.jsonl.gz", corpora_dir), 1500)
    accounts = [f"atk{i % 37}" for i in range(N_ATTACK)] + [f"user{i}" for i in range(1500)]
    feats = featurize(_table(texts + benign, accounts))
    return {"feats": feats, "truth": truth, "gsm": gsm, "rng": rng}


def _store(feats: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("_f", feats)
    con.execute("CREATE TABLE requests AS SELECT * FROM _f")
    con.unregister("_f")
    return con


def _template_of(con: duckdb.DuckDBPyConnection, feats: pa.Table) -> list[int | None]:
    tp = dict(con.execute("SELECT skeleton_hash, template_id FROM templates").fetchall())
    return [tp.get(s) for s in feats.column("skeleton_hash").to_pylist()]


def test_wrappers_become_few_pure_templates(corpus: dict) -> None:
    con = _store(corpus["feats"])
    stats = TemplateIndex(con).update()
    tid = _template_of(con, corpus["feats"])
    attack = Counter(tid[:N_ATTACK])
    # five wrappers with paraphrases: six templates (the two JSON paraphrases share too little
    # text to meet) hold ≥ 95% of the prompts, each ≥ 95% one wrapper
    assert sum(c for _, c in attack.most_common(6)) >= 0.95 * N_ATTACK
    for t, _ in attack.most_common(6):
        wrappers = Counter(corpus["truth"][i] for i in range(N_ATTACK) if tid[i] == t)
        assert max(wrappers.values()) / sum(wrappers.values()) >= 0.95
    # star edges, never all pairs: one wrapper alone would give 400 * 399 / 2 pairs
    pairs = sum(c * (c - 1) // 2 for c in attack.values())
    assert pairs > 300_000
    assert stats["star_edges"] < 25_000
    assert stats["new_skeletons"] == stats["skeletons_total"]


def test_benign_prompts_mostly_stay_singletons(corpus: dict) -> None:
    con = _store(corpus["feats"])
    TemplateIndex(con).update()
    tid = _template_of(con, corpus["feats"])
    sizes = Counter(tid)
    benign = tid[N_ATTACK:]
    singles = sum(1 for t in benign if t is not None and sizes[t] == 1)
    # measured ≈ 88%: the rest are exact repeats ("continue", "hi") and real shared openers
    assert singles / len(benign) >= 0.8
    attack_templates = set(tid[:N_ATTACK])
    assert sum(1 for t in benign if t in attack_templates) <= 3


def test_incremental_update_joins_existing_templates(corpus: dict) -> None:
    feats = corpus["feats"]
    day1 = pa.concat_tables([feats.slice(0, 1000), feats.slice(N_ATTACK, 700)])
    day2 = pa.concat_tables([feats.slice(1000, N_ATTACK - 1000), feats.slice(N_ATTACK + 700)])
    con = _store(day1)
    idx = TemplateIndex(con)
    s1 = idx.update()
    before = dict(con.execute("SELECT skeleton_hash, template_id FROM templates").fetchall())
    con.register("_d2", day2)
    con.execute("INSERT INTO requests SELECT * FROM _d2")
    s2 = idx.update()
    assert s2["joined_existing"] > 0 and s1["joined_existing"] == 0
    after = dict(con.execute("SELECT skeleton_hash, template_id FROM templates").fetchall())
    kept = sum(1 for k, v in before.items() if after[k] == v)
    assert kept / len(before) >= 0.99  # yesterday's ids are stable
    tid = _template_of(con, feats)
    day1_templates = set(before.values())
    joined = sum(1 for t in tid[1000:N_ATTACK] if t in day1_templates)
    assert joined >= 0.95 * (N_ATTACK - 1000)  # day-2 attack prompts join day-1 templates
    attack = Counter(tid[:N_ATTACK])
    assert sum(c for _, c in attack.most_common(6)) >= 0.95 * N_ATTACK
    assert idx.update()["new_skeletons"] == 0  # nothing left to do


def test_max_bucket_guard_counts_generic_buckets(corpus: dict) -> None:
    con = _store(corpus["feats"])
    stats = TemplateIndex(con, max_bucket=50).update()
    assert stats["buckets_ignored"] > 0
    biggest = con.execute(
        "SELECT count(*) FROM templates GROUP BY template_id ORDER BY 1 DESC LIMIT 1"
    ).fetchone()[0]
    assert biggest < 400


def test_lookup_matches_new_prompts_online(corpus: dict) -> None:
    con = _store(corpus["feats"])
    TemplateIndex(con).update()
    lookup = TemplateIndex.load_lookup(con)
    tid = _template_of(con, corpus["feats"])
    big = Counter(tid[:N_ATTACK]).most_common(5)
    fresh = corpus["gsm"][N_ATTACK + 10:N_ATTACK + 40]
    hits = 0
    for i, q in enumerate(fresh):
        w = i % len(WRAPPERS)
        one = featurize(pa.table({"prompt_text": [WRAPPERS[w][0].format(q=q)]})).to_pylist()[0]
        got = lookup.match(one["skeleton_hash"], one["lsh_bands"])
        hits += got in {t for t, _ in big}
    assert hits >= 0.9 * len(fresh)
    other = featurize(pa.table({"prompt_text": ["What's a good name for a golden retriever?"]}))
    row = other.to_pylist()[0]
    assert lookup.match(row["skeleton_hash"], row["lsh_bands"]) is None
    assert lookup.nbytes < 2_000_000


def test_template_spread(corpus: dict) -> None:
    con = _store(corpus["feats"])
    TemplateIndex(con).update()
    spread = template_spread(con)
    assert spread.column_names == ["template_id", "n_skeletons", "n_requests", "n_accounts",
                                   "top_account", "top_share", "first_ts_ms", "last_ts_ms"]
    top = spread.slice(0, 5).to_pylist()
    assert all(r["n_accounts"] == 37 and r["top_share"] < 0.06 for r in top)
    assert sum(spread.column("n_requests").to_pylist()) == corpus["feats"].num_rows - \
        corpus["feats"].column("skeleton_hash").to_pylist().count(0)


def test_missing_tables_are_clear_errors() -> None:
    con = duckdb.connect()
    with pytest.raises(InvalidInputError, match="requests"):
        TemplateIndex(con).update()
    con.execute("CREATE TABLE requests (x INT)")
    with pytest.raises(InvalidInputError, match="skeleton_hash"):
        TemplateIndex(con).update()


def test_a_trickle_of_new_prompts_joins_existing_templates(corpus: dict) -> None:
    """One new prompt per wrapper on day 2 still joins: a bucket's size counts the skeletons
    the existing template has with that key, not the template as one member."""
    feats = corpus["feats"]
    con = _store(feats)
    idx = TemplateIndex(con)
    idx.update()
    big = {t for t, _ in Counter(_template_of(con, feats)[:N_ATTACK]).most_common(6)}
    fresh = corpus["gsm"][N_ATTACK + 100:N_ATTACK + 100 + len(WRAPPERS)]
    day2 = featurize(_table([WRAPPERS[w][0].format(q=q) for w, q in enumerate(fresh)],
                            ["late"] * len(fresh), t0=10_000_000))
    con.register("_d2", day2)
    con.execute("INSERT INTO requests SELECT * FROM _d2")
    stats = idx.update()
    assert stats["new_skeletons"] <= len(fresh)
    got = _template_of(con, day2)
    assert sum(t in big for t in got) >= len(fresh) - 1


def test_shared_payloads_do_not_merge_wrappers(corpus: dict) -> None:
    """The same real tasks sent through two wrappers and bare: the payload windows match
    across all three, but a prompt links only through its dominant (wrapper) buckets."""
    qs = corpus["gsm"][3000:3300]
    a, b = WRAPPERS[0][0], WRAPPERS[4][0]
    texts = [a.format(q=q) for q in qs] + [b.format(q=q) for q in qs] + qs
    feats = featurize(_table(texts, ["x"] * len(texts)))
    con = _store(feats)
    TemplateIndex(con).update()
    tid = _template_of(con, feats)
    n = len(qs)
    ta, tb = Counter(tid[:n]).most_common(1)[0], Counter(tid[n:2 * n]).most_common(1)[0]
    assert ta[0] != tb[0]
    assert ta[1] >= 0.95 * n and tb[1] >= 0.95 * n
    bare = tid[2 * n:]
    assert sum(t in (ta[0], tb[0]) for t in bare) <= 0.05 * n


def test_same_templates_and_bands_from_a_view_and_a_table(corpus: dict) -> None:
    """A stored ``requests`` table is read by first row per skeleton, a view by any_value:
    both give the same templates and band counts (a skeleton's keys are one list)."""
    table = _store(corpus["feats"])
    view = duckdb.connect()
    view.register("requests", corpus["feats"])
    out = []
    for con in (table, view):
        stats = TemplateIndex(con).update()
        out.append((
            stats,
            con.execute("SELECT * FROM templates ORDER BY ALL").fetchall(),
            con.execute("SELECT * FROM template_bands ORDER BY ALL").fetchall(),
        ))
    assert out[0][1] and out[0][2]
    assert out[0][1:] == out[1][1:]
    drop = {"seconds"}
    assert {k: v for k, v in out[0][0].items() if k not in drop} == {
        k: v for k, v in out[1][0].items() if k not in drop
    }
