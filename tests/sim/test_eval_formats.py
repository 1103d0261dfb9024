"""Generator 5 (issue 11): a world's eval accounts wrap the public benchmarks' items in one of
``world.eval_formats`` harness formats instead of the fixed two, so unrelated eval teams no
longer all share a handful of prompt templates; nothing else in the world moves."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from distillguard.errors import ScenarioError
from distillguard.sim import simulate, wordings
from distillguard.sim.plan import Tables, build_plan
from distillguard.sim.scenario import Scenario
from distillguard.sim.text import load_bank
from distillguard.sim.world import draw_scenario

G5 = 5
EVAL = {"eval_runner", "eval_team", "leaderboard_operator"}


def test_generator_5_adds_only_the_world_s_format_count():
    counts = set()
    for seed in (1, 5, 105):
        new = draw_scenario("small", seed, generator=G5).to_dict()
        old = draw_scenario("small", seed, generator=4).to_dict()
        counts.add(new["world"].pop("eval_formats"))
        assert new == old
    assert "eval_formats" not in draw_scenario("small", 1, generator=4).to_dict()["world"]
    assert len(counts) > 1 and all(3 <= k <= 10 for k in counts)


def test_the_plan_is_generator_4_s():
    bank = load_bank(None, use_corpora=False)
    old_sc, new_sc = draw_scenario("tiny", 1, generator=4), draw_scenario("tiny", 1, generator=G5)
    old = build_plan(old_sc, Tables(old_sc, bank), bank, seed=1)
    new = build_plan(new_sc, Tables(new_sc, bank), bank, seed=1)
    assert new.account_id == old.account_id and new.payment == old.payment
    for col in ("group", "created_ms", "home_ip", "ua1", "n_req", "key_base", "unit_acct"):
        assert np.array_equal(getattr(new, col), getattr(old, col)), col


def _rows(out: Path, read_log, read_csv) -> tuple[dict, dict]:
    persona = {r["account_id"]: r["persona"] for r in read_csv(out / "labels.csv")}
    rows: dict[str, list] = defaultdict(list)
    for r in read_log(out / "requests.jsonl.gz"):
        r.pop("request_id")
        rows[r["account_id"]].append(r)
    return persona, rows


def _key(rows: list[dict], drop: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in drop}, sort_keys=True) for r in rows
    )


def test_only_the_eval_accounts_wording_changes(tmp_path: Path, readers):
    got = {}
    for gen in (4, G5):
        out = tmp_path / f"g{gen}"
        simulate(
            draw_scenario("tiny", 1, generator=gen),
            out=out,
            seed=1,
            progress=False,
            use_corpora=False,
        )
        got[gen] = _rows(out, *readers)
    (persona, old), (persona5, new) = got[4], got[G5]
    assert persona == persona5
    changed = 0
    for acct, p in persona.items():
        if p not in EVAL:
            assert _key(new[acct]) == _key(old[acct]), p
            continue
        assert _key(new[acct], ("messages", "input_tokens")) == _key(
            old[acct], ("messages", "input_tokens")
        )
        changed += _key(new[acct]) != _key(old[acct])
    assert changed >= 3  # most eval accounts now use another harness's format


def _format_of(content: str, forms: tuple[str, ...]) -> int:
    """The harness format a prompt was written in: the one whose text around ``{task}`` it
    carries, longest first."""
    fits = [
        (len(pre) + len(post), i)
        for i, (pre, post) in enumerate(wordings.split(f) for f in forms)
        if content.startswith(pre) and content.endswith(post)
    ]
    return max(fits)[1]


def test_unrelated_eval_runners_use_many_formats(tmp_path: Path, readers):
    data = draw_scenario("tiny", 3, generator=4).to_dict()
    data["hard_benign"]["eval_runner"] = {"accounts": 12, "requests": 2400}
    data["world"]["eval_formats"] = 10
    out = tmp_path / "w"
    simulate(Scenario.from_dict(data), out=out, seed=3, progress=False, use_corpora=False)
    persona, rows = _rows(out, *readers)
    forms = (
        wordings.EVAL_MATH + wordings.EVAL_MATH_MORE + wordings.EVAL_CODE + wordings.EVAL_CODE_MORE
    )
    used = {
        _format_of(r["messages"][-1]["content"], forms)
        for acct, p in persona.items()
        if p == "eval_runner"
        for r in rows[acct]
    }
    assert len(used) >= 6  # the fixed formats allow four (two per benchmark)


@pytest.mark.parametrize("bad", [0, 65, "many", 2.5])
def test_a_bad_format_count_is_named(bad):
    data = draw_scenario("tiny", 2, generator=4).to_dict()
    data["world"]["eval_formats"] = bad
    with pytest.raises(ScenarioError, match="eval_formats"):
        Scenario.from_dict(data)
