"""REQUEST_INPUTS (per-account counts as joined aggregates) against a plain Python count.

The SQL joins GROUP BY counts back to each request; a NULL key (no template, no session) must count as one group of its own, as a window's PARTITION BY does.
"""

from __future__ import annotations

from collections import Counter

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from distillguard.scoring import definitions as d

N = 400


def _tables(seed: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)

    def pick(values: list, p_null: float = 0.0) -> list:
        out = [values[i] for i in rng.integers(0, len(values), N)]
        return [None if rng.random() < p_null else v for v in out]

    ids = [f"r{i}" for i in range(N)]
    accounts = pick([f"a{i}" for i in range(12)])
    keys = pa.table({
        "request_id": ids,
        "account_id": accounts,
        "ts_ms": pa.array(rng.integers(1_700_000_000_000, 1_700_900_000_000, N)),
        "template": pick(["t1", "t2", "t3"], 0.3),
        "ip": pick(["1.1.1.1", "2.2.2.2", "3.3.3.3"], 0.1),
        "asn": pick(["AS1", "AS2"], 0.5),
        "prefix": pick(["1.1.1", "2.2.2"], 0.5),
        "ua": pick(["ua1", "ua2"], 0.2),
        "session_id": pick(["s1", "s2", "s3"], 0.4),
        "model": pick(["m-old", "m-new"]),
        "capability": pick(["code", "math", "chat"]),
        "harvest": pa.array(np.round(rng.random(N), 1)),
        "sig_cot": pa.array(rng.random(N)),
        "sig_rubric": pa.array(rng.random(N)),
        "sig_synth": pa.array(rng.random(N)),
        "sig_format": pa.array(rng.random(N)),
        "sig_rewrite": pa.array(rng.random(N)),
        "n_user_turns": pa.array(rng.integers(1, 4, N), pa.int32()),
        "is_reasoning": pick([True, False]),
        "output_tokens": pa.array(pick([100, 200, 300], 0.1), pa.int64()),
        "max_tokens": pa.array(pick([256.0, 1024.0], 0.3), pa.float64()),
    })
    requests = pa.table({
        "request_id": ids,
        "api_key_id": pick(["k1", "k2"], 0.2),
        "country": pick(["US", "DE"], 0.3),
        "max_tokens": keys.column("max_tokens"),
        "temperature": pa.array(pick([0.0, 0.7], 0.3), pa.float64()),
        "stream": pick([True, False], 0.3),
    })
    acc = sorted(set(accounts))
    score = pa.table({
        "account_id": acc,
        "risk": pa.array(rng.random(len(acc))),
        "cluster_id": [f"c{i % 3}" for i in range(len(acc))],
        "rotation": pa.array(rng.random(len(acc))),
        "pivot": pa.array(rng.random(len(acc))),
    })
    ct = pa.table({"cluster_id": ["c0", "c1"], "template": ["t1", "t2"], "risk": [0.9, 0.8]})
    at = pa.table({"template": ["t3"], "cluster_id": ["c2"], "risk": [0.95]})
    return {"request_keys": keys, "requests": requests, "score_accounts": score,
            "cluster_templates": ct, "attack_templates": at}


def _expected_shares(t: dict[str, pa.Table]) -> dict[str, dict[str, float]]:
    """Per request: the leave-one-out share of its account's other requests with the same key
    ((same key - 1) / (account requests - 1); NULL is a key too)."""
    k = t["request_keys"].to_pylist()
    cols = {"ip_share": lambda x: x["ip"], "user_agent_share": lambda x: x["ua"],
            "network_share": lambda x: x["asn"] or x["prefix"] or x["ip"],
            "capability_share": lambda x: x["capability"],
            "template_share": lambda x: x["template"], "session_share": lambda x: x["session_id"]}
    n_acc = Counter(x["account_id"] for x in k)
    out: dict[str, dict[str, float]] = {x["request_id"]: {} for x in k}
    for name, key in cols.items():
        c = Counter((x["account_id"], key(x)) for x in k)
        for x in k:
            share = (c[(x["account_id"], key(x))] - 1) / max(n_acc[x["account_id"]] - 1, 1)
            if name in ("template_share", "session_share") and key(x) is None:
                share = 0.0  # no template / no session: not a share of anything
            out[x["request_id"]][name] = share
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_request_inputs_counts_match_python(seed: int) -> None:
    t = _tables(seed)
    con = duckdb.connect()
    for name, table in t.items():
        con.register(f"__{name}", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM __{name}")
    sql = d.REQUEST_INPUTS.format(new_model="m-new", thr=0.5, candidates="TRUE")
    got = {row["request_id"]: row for row in con.sql(sql).to_arrow_table().to_pylist()}
    want = _expected_shares(t)
    assert set(got) == set(want)  # one row per request, none lost or repeated by the joins
    for rid, cols in want.items():
        for name, value in cols.items():
            assert got[rid][name] == pytest.approx(value, abs=1e-12), (rid, name)
    # the candidates filter keeps only the requests of risky-enough accounts
    risky = {a for a, r in zip(*(t["score_accounts"].column(c).to_pylist()
                                 for c in ("account_id", "risk")), strict=True) if r >= 0.5}
    few = con.sql(d.REQUEST_INPUTS.format(new_model="m-new", thr=0.5, candidates="a.risk >= 0.5"))
    accounts = few.to_arrow_table().column("account_id").to_pylist()
    assert set(accounts) == risky
    assert len(accounts) == sum(a in risky for a in t["request_keys"].column("account_id").to_pylist())


@pytest.mark.parametrize("seed", [0, 1])
def test_ranks_equal_percent_rank(seed: int) -> None:
    """The ranks, counted over each account's distinct values, are bit for bit the
    ``percent_rank()`` window over every request (ties, NULLs, one-request accounts)."""
    t = _tables(seed)
    t["request_keys"] = pa.concat_tables([t["request_keys"], t["request_keys"].slice(0, 1)
                                          .set_column(0, "request_id", pa.array(["solo"]))
                                          .set_column(1, "account_id", pa.array(["alone"]))])
    t["requests"] = pa.concat_tables([t["requests"], t["requests"].slice(0, 1)
                                      .set_column(0, "request_id", pa.array(["solo"]))])
    con = duckdb.connect()
    for name, table in t.items():
        con.register(f"__{name}", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM __{name}")
    sql = d.REQUEST_INPUTS.format(new_model="m-new", thr=0.5, candidates="TRUE")
    got = con.sql(f"SELECT request_id, harvest_rank, output_rank, max_tokens_rank FROM ({sql}) "
                  "ORDER BY request_id").fetchall()
    want = con.sql(
        "SELECT request_id, "
        "percent_rank() OVER (PARTITION BY account_id ORDER BY harvest), "
        "percent_rank() OVER (PARTITION BY account_id ORDER BY output_tokens), "
        "percent_rank() OVER (PARTITION BY account_id ORDER BY max_tokens) "
        "FROM request_keys ORDER BY request_id").fetchall()
    assert len(got) == N + 1 and got == want
    assert dict((r[0], r[1:]) for r in got)["solo"] == (0.0, 0.0, 0.0)
    assert len({r[2] for r in got}) > 3  # ties and distinct values both occur
