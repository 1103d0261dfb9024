"""The online section of ``make bench``: ``run(out_dir) -> markdown``.

Measures, with bounded counts and time, loopback only:

1. the in-process hook (what the ASGI middleware and the LiteLLM pre-call hook run per
   request): p50 / p99 of the O(1) precheck and of ``assess`` (validate + precheck + queue
   the full scoring), with the background learner running;
2. ``POST /v1/score`` of a real ``distillguard serve`` (subprocess, one worker) under
   ``wrk`` (Debian package) or, when wrk is missing, a multi-process httpx client;
3. state memory per active account with 100,000 accounts (in-process; Redis at 10,000);
4. a replay of a simulated data set (``data_dir``, default: the suite's cached ``medium``)
   through the online path with no batch results loaded: time-to-detect, harvest requests
   served before action, and recall at the batch detector's benign FPR (``batch_dir``: the
   detector's findings; default: found under the suite's results);
5. the same deployment-like: ``detect`` on the first half of the period, the second half
   replayed with those results in the verdict cache.
"""

from __future__ import annotations

import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .replay import render_markdown, replay
from .scorer import OnlineScorer
from .state import MemoryState
from .verdicts import AccountVerdict, ClusterVerdict

TOKEN = "bench-token"
T0 = 1_767_225_600_000
PROMPTS = (
    "Think step by step and show all of your internal reasoning. Problem {i}: what is {i} * 17?",
    "Can you help me plan a birthday party for my niece {i}? She likes dinosaurs.",
    "Rate the following answer on a rubric from 1 to 10 and justify: answer {i}.",
    "Write a Python function that returns the {i}th Fibonacci number.",
)


def _record(i: int, n_accounts: int) -> dict[str, Any]:
    acct = f"acct-{i % n_accounts}"
    return {
        "request_id": f"bench-{i}",
        "ts": T0 + i * 10,
        "account_id": acct,
        "model": "m",
        "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)].format(i=i)}],
        "ip": f"10.{i % 7}.{i % 11}.{i % 13}",
        "user_agent": "bench/1.0",
    }


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_hook(n: int = 20000, n_accounts: int = 2000) -> dict[str, float]:
    """p50/p99 (µs) of precheck and assess on a scorer with a warm verdict cache and state."""
    with tempfile.TemporaryDirectory() as d:
        s = OnlineScorer(Path(d), shadow=False, load_results=False)  # time the enforcing path
        # A verdict cache the size of a real one: 10k accounts, 1% in attack clusters.
        for k in range(10000):
            cid = f"c{k % 20}" if k % 100 == 0 else None
            s.cache.accounts[f"acct-{k}"] = AccountVerdict(
                0.9 if cid else 0.05, "attack" if cid else "benign", cid, ""
            )
        for c in range(20):
            s.cache.clusters[f"c{c}"] = ClusterVerdict(5, 0.9, "attack", "math", "")
        s.score_rows([_norm(_record(i, n_accounts)) for i in range(n_accounts)])  # warm state
        pre, ass = [], []
        pc = time.perf_counter_ns
        for i in range(n):
            acct = f"acct-{i % n_accounts}"
            t = pc()
            s.precheck(acct, f"p{i}")
            pre.append((pc() - t) / 1000)
        recs = [_record(n_accounts + i, n_accounts) for i in range(n // 4)]
        for r in recs:
            t = pc()
            s.assess(r)
            ass.append((pc() - t) / 1000)
        s.learner().wait_idle(120)
        s.close()
    return {
        "precheck_p50_us": _pct(pre, 0.5),
        "precheck_p99_us": _pct(pre, 0.99),
        "assess_p50_us": _pct(ass, 0.5),
        "assess_p99_us": _pct(ass, 0.99),
        "n_precheck": len(pre),
        "n_assess": len(ass),
    }


def bench_scoring(n: int = 10000, n_accounts: int = 1000) -> dict[str, float]:
    """p50/p99 (µs) of the full scoring of one featurized request (``decide``: state update,
    account risk, rules), no batch results (the risk ranks against the live reservoir once it
    fills); and of the shipped risk model on one account, scikit-learn vs numpy trees."""
    import numpy as np

    from .scorer import text_features

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        s = OnlineScorer(Path(d), shadow=True, load_results=False)
        rows = [_norm(_record(i, n_accounts)) for i in range(n)]
        feats, _ = text_features(rows, s.policy.policy)
        for r, f in zip(rows, feats, strict=True):
            r.update(f)
        s.decide(dict(rows[0]))  # imports and the model load, outside the timing
        s.state.clear()
        lat = []
        pc = time.perf_counter_ns
        for r in rows:
            t = pc()
            s.decide(r)
            lat.append((pc() - t) / 1000)
        s.close()
    out.update(
        decide_p50_us=_pct(lat, 0.5),
        decide_p99_us=_pct(lat, 0.99),
        n_decide=len(lat),
        n_accounts=n_accounts,
    )
    from ..scoring.compiled import CompiledRiskModel
    from ..scoring.model import resolve

    model = resolve("builtin")
    if model is not None:
        x = np.random.default_rng(0).random((1, len(model.names_)))
        fast = CompiledRiskModel(model)
        for name, fn in (("sklearn", model.predict_risk), ("numpy", fast.predict_risk)):
            fn(x)
            times = []
            for _ in range(300):
                t = pc()
                fn(x)
                times.append((pc() - t) / 1000)
            out[f"model_{name}_p50_us"] = _pct(times, 0.5)
            out[f"model_{name}_p99_us"] = _pct(times, 0.99)
    return out


def bench_agreement(log: Path, store: Path, state: str = "memory") -> dict[str, Any]:
    """Batch vs online risk of the same accounts: ``log`` (the requests ``detect`` read) is
    replayed in time order through the online path with ``store``'s results loaded, then each
    account's online risk is compared with its batch risk."""
    import duckdb
    import numpy as np
    from scipy.stats import spearmanr

    from ..scoring.scorer import verdicts
    from .replay import iter_records

    rows = sorted(
        (_norm(r) for r in iter_records(Path(log))), key=lambda r: (r["ts_ms"], r["request_id"])
    )
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(Path(store) / "store.duckdb", Path(d) / "store.duckdb")
        s = OnlineScorer(Path(d), shadow=True, state=state)
        for i in range(0, len(rows), 512):
            s.score_rows(rows[i : i + 512])
        con = duckdb.connect(str(Path(d) / "store.duckdb"), read_only=True)
        batch = dict(con.execute("SELECT account_id, risk FROM out_accounts").fetchall())
        con.close()
        now = rows[-1]["ts_ms"]
        online = {a: s.account_risk(a, now) for a in batch}
        s.close()
    ids = [a for a, r in online.items() if r is not None]
    on = np.array([online[a].risk for a in ids])
    ba = np.array([batch[a] for a in ids], float)
    diff = np.abs(on - ba)
    return {
        "accounts": len(ids),
        "mean_abs_diff": float(diff.mean()),
        "p95_abs_diff": float(np.quantile(diff, 0.95)),
        "max_abs_diff": float(diff.max()),
        "within_0.05": float((diff <= 0.05).mean()),
        "spearman": float(spearmanr(on, ba).statistic),
        "verdict_agreement": float((verdicts(on, 0.5, 0.9) == verdicts(ba, 0.5, 0.9)).mean()),
    }


def _norm(rec: dict[str, Any]) -> dict[str, Any]:
    from .normalize import normalize_record

    return normalize_record(rec)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis() -> tuple[subprocess.Popen, str] | None:
    """A throwaway redis-server on a free loopback port (None when it is not installed)."""
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        return None
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    return None


def _start_server(
    data: Path, port: int, workers: int = 1, state: str = "memory"
) -> subprocess.Popen:
    import httpx

    exe = Path(sys.executable).parent / "distillguard"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "distillguard"]
    proc = subprocess.Popen(
        cmd
        + ["serve", "--port", str(port), "--token", TOKEN, "--data", str(data)]
        + ["--workers", str(workers), "--state", state],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("distillguard serve did not start within 60 s")


_WRK_LUA = """
local i = 0
local pace = tonumber(os.getenv("DG_WRK_DELAY_MS") or "0")
if pace > 0 then
  delay = function() return pace end  -- open-ish loop: each connection waits between requests
end
request = function()
  i = i + 1
  local acct = "acct-" .. (i %% %d)
  local body = string.format('{"request_id":"w%%d-%%d","ts":%d,"account_id":"%%s","model":"m",'
    .. '"messages":[{"role":"user","content":"Think step by step about problem %%d"}],'
    .. '"ip":"10.0.0.%%d"}', math.random(1e9), i, acct, i, i %% 250)
  return wrk.format("POST", "/v1/score", {["Content-Type"]="application/json",
    ["Authorization"]="Bearer %s"}, body)
end
"""


def _parse_wrk(out: str) -> dict[str, float]:
    res: dict[str, float] = {}
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            res["req_per_s"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "75%", "90%", "99%"):
            val = parts[1]
            unit = next(u for u in ("us", "ms", "s") if val.endswith(u))
            res[f"p{parts[0][:-1]}_ms"] = float(val[: -len(unit)]) * units[unit]
        elif "requests in" in line:
            res["requests"] = float(parts[0])
        elif line.strip().startswith("Non-2xx"):
            res["non_2xx"] = float(parts[-1])
    return res


def _httpx_worker(args: tuple[str, int, float, int]) -> list[float]:
    import httpx

    url, seed, seconds, n_accounts = args
    lat = []
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        end = time.time() + seconds
        i = seed * 10_000_000
        while time.time() < end:
            t = time.perf_counter()
            c.post(f"{url}/v1/score", json=_record(i, n_accounts))
            lat.append((time.perf_counter() - t) * 1000)
            i += 1
    return lat


def _wrk_run(
    wrk: str, script: Path, url: str, connections: int, delay_ms: int, seconds: int
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DG_WRK_DELAY_MS": str(delay_ms)}
    command = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    return subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 30, env=env
    )


def _wrk_runs(
    wrk: str,
    url: str,
    workdir: Path,
    seconds: float,
    plan: list[tuple[int, int]],
    n_accounts: int,
) -> list[dict[str, Any]]:
    """One wrk run per (connections, delay_ms) of ``plan``, after an unrecorded warm-up."""
    script = workdir / "score.lua"
    script.write_text(_WRK_LUA % (n_accounts, T0, TOKEN))
    # Not recorded: the seconds after start-up (modules imported on first use, the learner
    # process still starting) are not a steady state.
    _wrk_run(wrk, script, url, 16, 0, 2)
    runs = []
    for c, delay in plan:
        res = _parse_wrk(_wrk_run(wrk, script, url, c, delay, int(seconds)).stdout)
        res["connections"] = c
        res["mode"] = (
            f"paced, {delay} ms between requests per connection" if delay else "saturation"
        )
        runs.append(res)
    return runs


def _httpx_runs(url: str, seconds: float, n_accounts: int) -> list[dict[str, Any]]:
    """Without wrk: two processes posting as fast as the server answers."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as ex:
        lats = list(ex.map(_httpx_worker, [(url, k, seconds, n_accounts) for k in range(2)]))
    allv = [x for lat in lats for x in lat]
    return [
        {
            "connections": 2,
            "req_per_s": len(allv) / seconds,
            "p50_ms": _pct(allv, 0.5),
            "p99_ms": _pct(allv, 0.99),
        }
    ]


def _learn_dropped(url: str) -> float:
    """Rows the server's background learners dropped (its ``/metrics``)."""
    import httpx

    m = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    return sum(
        float(x.split()[-1])
        for x in m.splitlines()
        if x.startswith("distillguard_learn_dropped_total")
    )


def bench_http(
    seconds: float = 8.0,
    connections: tuple[int, ...] = (4, 16, 50, 200),
    n_accounts: int = 5000,
    paced: tuple[tuple[int, int], ...] = ((12, 10), (50, 25)),
    workers: int = 1,
    state: str = "memory",
) -> dict[str, Any]:
    """POST /v1/score over loopback under wrk (or multi-process httpx); req/s and latency.

    ``connections``: saturation runs (closed loop: as fast as the server answers).
    ``paced``: (connections, delay_ms) runs where each connection waits ``delay_ms`` between
    requests, i.e. about ``connections * 1000 / delay_ms`` req/s offered: the latency a
    gateway sees at that sustained rate. ``workers`` > 1 needs a ``redis://`` ``state``.
    """
    out: dict[str, Any] = {"workers": workers, "state": state.split("://")[0]}
    wrk = shutil.which("wrk")
    out["tool"] = "wrk" if wrk else "httpx (2 processes)"
    plan = [(c, 0) for c in connections] + list(paced)
    with tempfile.TemporaryDirectory() as d:
        port = _free_port()
        proc = _start_server(Path(d), port, workers, state)
        url = f"http://127.0.0.1:{port}"
        try:
            out["runs"] = (
                _wrk_runs(wrk, url, Path(d), seconds, plan, n_accounts)
                if wrk
                else _httpx_runs(url, seconds, n_accounts)
            )
            out["learn_dropped"] = _learn_dropped(url)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


def http_section(seconds: float, results: dict[str, Any]) -> list[str]:
    """``POST /v1/score`` under wrk: one worker with in-memory state, then, when redis-server is
    installed, one and two workers (``serve --workers 2``) on a Redis state, where each
    worker's learner runs in its own process (``online/learner_proc.py``)."""
    servers = [bench_http(seconds)]
    for workers in (1, 2):
        redis_server = _start_redis()  # a fresh one each: no state left by the other run
        if redis_server is None:
            break
        try:
            servers.append(bench_http(seconds, workers=workers, state=redis_server[1]))
        finally:
            redis_server[0].terminate()
    results["http"] = servers
    lines = [
        f"`POST /v1/score` over loopback, `distillguard serve` (background featurization), "
        f"load from {servers[0]['tool']}, {seconds:.0f} s per run:",
        "",
        "| server | load | connections | req/s | p50 | p99 | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for http in servers:
        server = f"{http['workers']} worker(s), {http['state']} state"
        for r in http["runs"]:
            lines.append(
                f"| {server} | {r.get('mode', 'saturation')} | {r.get('connections')} | "
                f"{r.get('req_per_s', 0):,.0f} | {r.get('p50_ms', float('nan')):.2f} ms | "
                f"{r.get('p99_ms', float('nan')):.2f} ms | {int(r.get('non_2xx', 0))} |"
            )
    dropped = sum(int(h.get("learn_dropped", 0)) for h in servers)
    return lines + [f"\nRows the background learners had to drop (queue full): {dropped}.", ""]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_memory(
    n_accounts: int = 100_000, per_account: int = 3, redis_accounts: int = 10_000
) -> dict[str, Any]:
    """Bytes of online state per active account (in-process at 100k, Redis at 10k)."""
    rng = random.Random(1)
    gc.collect()
    before = _rss_bytes()
    st = MemoryState()
    caps = ("math", "code", "chat", "agentic")
    for k in range(per_account):
        for a in range(n_accounts):
            st.observe(
                f"acct-{a:06d}",
                {
                    "ts_ms": T0 + k * 60_000 + a,
                    "ip": f"10.{a % 250}.{k}.{rng.randint(0, 9)}",
                    "user_agent": f"sdk/{a % 5}",
                    "template": rng.getrandbits(63),
                    "capability": caps[(a + k) % 4],
                    "sig_cot": 0.9 if a % 10 == 0 else 0.0,
                    "n_user_turns": 1,
                },
            )
    gc.collect()
    rss = _rss_bytes() - before
    out: dict[str, Any] = {
        "accounts": st.n_accounts(),
        "requests_per_account": per_account,
        "rss_bytes_per_account": rss / n_accounts,
        "deep_size_bytes_per_account": st.memory_bytes() / n_accounts,
    }
    del st
    gc.collect()
    exe = shutil.which("redis-server")
    if exe and redis_accounts:
        from .state import RedisState

        port = _free_port()
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    rs = RedisState(f"redis://127.0.0.1:{port}/0")
                    break
                except Exception:
                    time.sleep(0.05)
            base = int(rs.r.info("memory")["used_memory"])
            for k in range(per_account):
                for a in range(redis_accounts):
                    rs.observe(
                        f"acct-{a:06d}",
                        {
                            "ts_ms": T0 + k * 60_000 + a,
                            "ip": f"10.{a % 250}.{k}.1",
                            "user_agent": f"sdk/{a % 5}",
                            "template": a * 7 + k,
                            "capability": caps[(a + k) % 4],
                            "sig_cot": 0.0,
                            "n_user_turns": 1,
                        },
                    )
            used = int(rs.r.info("memory")["used_memory"]) - base
            out["redis_accounts"] = redis_accounts
            out["redis_bytes_per_account"] = used / redis_accounts
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return out


def _find_data(out_dir: Path) -> tuple[Path | None, Path | None]:
    """The suite's cached medium data set and the distillguard findings on it, if present."""
    root = out_dir.resolve().parent.parent
    data = sorted((root / "data").glob("medium-s*")) if (root / "data").is_dir() else []
    data_dir = data[0] if data else None
    batch = None
    if data_dir is not None:
        res = root / "results" / data_dir.name
        cands = (
            sorted(p.parent for p in res.rglob("accounts.csv") if "distillguard" in str(p))
            if res.is_dir()
            else []
        )
        batch = cands[0] if cands else None
    return data_dir, batch


def bench_replay(
    data_dir: Path, batch_dir: Path | None, out_dir: Path, max_seconds: float | None = None
) -> tuple[dict[str, Any], str]:
    logs = sorted(data_dir.glob("requests*.jsonl*")) or sorted(data_dir.glob("requests*.parquet"))
    if not logs:
        raise FileNotFoundError(f"no requests.jsonl[.gz] or .parquet in {data_dir}")
    rep = replay(
        logs,
        None,
        speed=0.0,
        labels=data_dir / "labels.csv",
        batch_results=batch_dir,
        progress=False,
        max_seconds=max_seconds,
    )
    d = rep.to_dict()
    (out_dir / "replay.json").write_text(json.dumps(d, indent=2))
    return d, render_markdown(rep)


def bench_replay_warm(
    data_dir: Path,
    batch_dir: Path | None,
    out_dir: Path,
    fraction: float = 0.5,
    timeout_s: float = 3600,
    max_seconds: float | None = None,
) -> tuple[dict[str, Any], str]:
    """Deployment-like: ``detect`` on the first half of the period, then replay the second half
    with those results in the verdict cache (state starts empty at the cut)."""
    from .replay import split_log

    logs = sorted(data_dir.glob("requests*.jsonl*")) or sorted(data_dir.glob("requests*.parquet"))
    work = out_dir / "warm"
    if work.exists():
        shutil.rmtree(work)
    before, after, cut = split_log(logs, fraction, work)
    exe = Path(sys.executable).parent / "distillguard"
    cmd = [
        str(exe),
        "detect",
        str(before),
        "--store",
        str(work / "store"),
        "--out",
        str(work / "findings"),
    ]
    if (data_dir / "accounts.csv").is_file():
        cmd[3:3] = ["--accounts", str(data_dir / "accounts.csv")]
    t = time.perf_counter()
    subprocess.run(
        cmd, check=True, timeout=timeout_s, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    detect_s = time.perf_counter() - t
    rep = replay(
        [after],
        work / "store",
        speed=0.0,
        labels=data_dir / "labels.csv",
        use_results=True,
        batch_results=batch_dir,
        progress=False,
        max_seconds=max_seconds,
    )
    d = rep.to_dict()
    d["detect_first_half_seconds"] = round(detect_s, 1)
    d["cut_ms"] = cut
    (out_dir / "replay_warm.json").write_text(json.dumps(d, indent=2))
    return d, render_markdown(rep)


def hook_lines(hook: dict[str, float]) -> list[str]:
    """The in-process hook's table (``bench_hook``)."""
    return [
        "In-process hook (ASGI middleware / LiteLLM pre-call hook path), scorer in the gateway "
        "process, 10k-account verdict cache, warm state (`distillguard.online.bench.bench_hook`):",
        "",
        "| path | p50 | p99 | calls |",
        "|---|---|---|---|",
        f"| precheck (O(1): verdict cache, actions, last features, token bucket) | "
        f"{hook['precheck_p50_us']:.0f} µs | {hook['precheck_p99_us']:.0f} µs | {hook['n_precheck']:,} |",
        f"| assess (validate record + precheck + queue full scoring; learner running) | "
        f"{hook['assess_p50_us']:.0f} µs | {hook['assess_p99_us']:.0f} µs | {hook['n_assess']:,} |",
        "",
    ]


def scoring_lines(sc: dict[str, float]) -> list[str]:
    """Full scoring of one request and the risk model on one account (``bench_scoring``)."""
    lines = [
        "Full scoring of one featurized request in process (`decide`: state update, account "
        "risk from the batch risk model on one account, rules; "
        "`distillguard.online.bench.bench_scoring`), and the risk model on one account:",
        "",
        "| path | p50 | p99 |",
        "|---|---|---|",
        f"| decide ({sc['n_decide']:,} requests, {sc['n_accounts']:,} accounts) | "
        f"{sc['decide_p50_us']:.0f} µs | "
        f"{sc['decide_p99_us']:.0f} µs |",
    ]
    for name in ("sklearn", "numpy"):
        if f"model_{name}_p50_us" in sc:
            lines.append(
                f"| risk model, one row, {name} | {sc[f'model_{name}_p50_us']:.0f} µs | "
                f"{sc[f'model_{name}_p99_us']:.0f} µs |"
            )
    return lines + [""]


def memory_lines(mem: dict[str, Any]) -> list[str]:
    """State memory per active account (``bench_memory``)."""
    redis = (
        f"; in Redis {mem['redis_bytes_per_account']:,.0f} B per account at "
        f"{mem['redis_accounts']:,} accounts."
        if "redis_bytes_per_account" in mem
        else "."
    )
    return [
        f"State memory per active account ({mem['accounts']:,} accounts, "
        f"{mem['requests_per_account']} requests each): "
        f"{mem['rss_bytes_per_account']:,.0f} B RSS "
        f"({mem['deep_size_bytes_per_account']:,.0f} B deep size)" + redis,
        "",
    ]


def _recall_line(summary: dict[str, Any], who: str, against: str) -> list[str]:
    share = summary.get("online_vs_batch_recall")
    if share is None:
        return []
    return [f"{who} reaches {share:.0%} of {against} recall at the same benign FPR (1%).", ""]


def _replay_lines(
    data_dir: Path, batch_dir: Path | None, out_dir: Path, max_seconds: float, results: dict
) -> list[str]:
    """The replay of ``data_dir`` through the online path with no batch results loaded."""
    t = time.perf_counter()
    rep, md = bench_replay(data_dir, batch_dir, out_dir, max_seconds=max_seconds)
    results["replay"] = {k: v for k, v in rep.items() if k != "accounts"}
    command = f"distillguard replay {data_dir}/requests.jsonl.gz" + (
        f" --batch {batch_dir}" if batch_dir else ""
    )
    return [
        f"Replay of `{data_dir}` through the online path, no batch results loaded "
        f"(`{command}`, {time.perf_counter() - t:.0f} s):",
        "",
        md,
        "",
        *_recall_line(
            rep.get("summary") or {},
            "Online state alone (no batch results)",
            "the batch detector's",
        ),
    ]


def _warm_replay_lines(
    data_dir: Path, batch_dir: Path | None, out_dir: Path, left_s: float, results: dict
) -> list[str]:
    """``detect`` on the first half, the second half replayed with its verdicts loaded."""
    if left_s < 600:
        return ["Deployment-like replay skipped: not enough of the time budget left."]
    try:
        wrep, wmd = bench_replay_warm(
            data_dir, batch_dir, out_dir, timeout_s=0.6 * left_s, max_seconds=0.3 * left_s
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return [f"Deployment-like replay not measured: {type(exc).__name__}: {exc}"]
    results["replay_warm"] = {k: v for k, v in wrep.items() if k != "accounts"}
    return [
        "Deployment-like: `detect` on the first half of the period "
        f"({wrep['detect_first_half_seconds']:.0f} s), then the second half replayed with "
        "those results in the verdict cache (the online state starts empty at the cut; "
        "recall compared on the accounts active in the second half):",
        "",
        wmd,
        "",
        *_recall_line(
            wrep.get("summary") or {},
            "Online with the first half's batch results",
            "the full-log batch detector's",
        ),
    ]


def run(
    out_dir: Path,
    data_dir: Path | None = None,
    batch_dir: Path | None = None,
    http_seconds: float = 8.0,
    warm: bool = True,
    budget_s: float = 3000.0,
) -> str:
    """Run every online benchmark (bounded) and return the markdown section.

    ``budget_s`` bounds the whole section (the suite kills a section after an hour): the
    replays stop early and say so, the deployment-like replay is skipped when time is short.
    """
    started = time.perf_counter()

    def left() -> float:
        return budget_s - (time.perf_counter() - started)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    lines = [
        "## Online enforcement",
        "",
        f"Machine load when this section started: {load[0]:.1f} (1-min average, 2 cores shared).",
        "",
    ]
    results: dict[str, Any] = {"hook": bench_hook(), "scoring": bench_scoring()}
    lines += hook_lines(results["hook"]) + scoring_lines(results["scoring"])
    lines += http_section(http_seconds, results)
    results["memory"] = bench_memory()
    lines += memory_lines(results["memory"])

    if data_dir is None:
        data_dir, found_batch = _find_data(out_dir)
        batch_dir = batch_dir or found_batch
    if data_dir is None:
        lines.append("Replay: no simulated data set found (pass `data_dir`).")
    else:
        data_dir = Path(data_dir)
        lines += _replay_lines(data_dir, batch_dir, out_dir, 0.5 * left(), results)
        if warm:
            lines += _warm_replay_lines(data_dir, batch_dir, out_dir, left(), results)
    (out_dir / "online_bench.json").write_text(json.dumps(results, indent=2, default=str))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m distillguard.online.bench OUT [DATA [BATCH]]
    args = [Path(a) for a in sys.argv[1:]]
    print(run(args[0], *(args[1:3])))
